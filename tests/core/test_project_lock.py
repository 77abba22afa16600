"""One FewLens process per project, and a lock no stray close() can drop (issue 10, item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ProjectError
from core.project import Project

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(os, "pread") or sys.platform == "win32", reason="POSIX locks")

OPEN_IN_CHILD = r"""
import sys
from core.errors import ProjectError
from core.project import Project
try:
    Project.open(sys.argv[1]).close()
    print("opened")
except ProjectError as e:
    print("refused", e)
"""


def _open_elsewhere(path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", OPEN_IN_CHILD, str(path)], capture_output=True, text=True,
                         env=env, timeout=60)
    return out.stdout.strip() + out.stderr.strip()


def test_a_second_process_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "p.fewlens"
    p = Project.create(path)
    try:
        said = _open_elsewhere(path)
        assert said.startswith("refused") and str(path) in said and f"process {os.getpid()}" in said
    finally:
        p.close()
    assert _open_elsewhere(path) == "opened"  # closed here: free again


def test_opens_in_one_process_share_the_lock(tmp_path):
    path = tmp_path / "p.fewlens"
    a = Project.create(path)
    b = Project.open(path)  # e.g. a job that reopens the project: allowed, SQLite coordinates it
    cid = a.add_class("Alpha")
    assert b.class_info(cid).name == "Alpha"
    a.close()
    assert _open_elsewhere(path).startswith("refused")  # b still holds it
    b.close()
    assert _open_elsewhere(path) == "opened"


def test_a_stray_open_and_close_of_the_file_keeps_other_programs_out(tmp_path):
    """The bug's mechanism: any code in this process that opens and closes the project file
    (Qt sniffing its type) drops SQLite's POSIX locks; the flock still refuses other openers."""
    path = tmp_path / "p.fewlens"
    p = Project.create(path)
    try:
        p.add_class("Alpha")
        with open(path, "rb") as f, open(f"{path}-wal", "rb"), open(f"{path}-shm", "rb"):
            f.read(100)
        assert _open_elsewhere(path).startswith("refused")
        assert os.path.exists(f"{path}-wal")  # nobody deleted the journal under us
        p.add_class("Beta")
    finally:
        p.close()
    with Project.open(path) as q:
        assert [c.name for c in q.classes()] == ["Alpha", "Beta"]


def test_a_file_that_is_not_a_project_is_still_named(tmp_path):
    bad = tmp_path / "notes.fewlens"
    bad.write_text("hello")
    with pytest.raises(ProjectError, match="not an SQLite database") as e:
        Project.open(bad)
    assert str(bad) in str(e.value)
    bad.write_text("hello again")  # the failed open left no lock behind
    with pytest.raises(ProjectError):
        Project.open(bad)
