"""The GUI's side of issue 14: damaged and read-only projects, a bug inside a job or a slot,
and the one-class warning — always a message naming the file, never a blank window."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app.jobs import Job  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "first.fewlens"
    Project.create(path).close()
    w = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _labeled_project(path: Path) -> Path:
    with Project.create(path) as p:
        for name in ("Alpha", "Beta"):
            cid = p.add_class(name)
            ids = p.add_images([(path.parent / f"{name}_{i}.jpg", f"{name}{i:060d}") for i in range(5)])
            p.set_labels(ids, cid)
        p.set_setting("unknown_threshold", 0.2)
    return path


def test_damaged_project_offers_recovery_and_opens_the_copy(qtbot, window, tmp_path):
    bad = _labeled_project(tmp_path / "month of labels.fewlens")
    con = sqlite3.connect(bad)
    con.execute("UPDATE settings SET value = 'high' WHERE key = 'unknown_threshold'")
    con.commit()
    con.close()
    seen = []
    window.ask_recover = lambda box: seen.append((box.text(), [b.text() for b in box.buttons()])) or True
    window.files.open_project(bad, wait=True)
    assert len(seen) == 1
    text, buttons = seen[0]
    assert str(bad) in text and "damaged" in text and "Recover a copy" in buttons
    assert window.session.path.name == "first.fewlens"  # the open project stays, not a blank window
    qtbot.waitUntil(lambda: window.session.path.name == "month of labels.recovered.fewlens", timeout=30_000)
    s = window.session
    assert sorted(c.name for c in s.classes) == ["Alpha", "Beta"] and s.labeled_count == 10
    assert window.windowTitle() == "month of labels.recovered — FewLens"


def test_not_a_project_says_so_without_recovery(qtbot, window, tmp_path):
    junk = tmp_path / "notes.fewlens"
    junk.write_text("shopping list")
    seen = []
    window.ask_recover = lambda box: seen.append([b.text() for b in box.buttons()]) or True
    job = window.files.open_project(junk, wait=True)
    assert str(junk) in job.error and "not a FewLens project" in job.error
    assert seen and "Recover a copy" not in seen[0]
    assert window.session.path.name == "first.fewlens"


def test_read_only_project_says_so_in_the_title(qtbot, window, tmp_path, monkeypatch):
    (tmp_path / "shared").mkdir()
    ro = _labeled_project(tmp_path / "shared" / "team.fewlens")
    real_access = os.access
    locked = {ro, ro.parent}
    monkeypatch.setattr(os, "access",
                        lambda p, mode: False if mode == os.W_OK and Path(p) in locked else real_access(p, mode))
    job = window.files.open_project(ro, wait=True)
    assert job.error is None
    assert window.windowTitle() == "team (read-only) — FewLens"
    assert "Save As" in window.statusBar().currentMessage()
    assert window.act_save_as.isEnabled()
    assert window.session.labeled_count == 10


def test_a_bug_inside_a_job_gives_a_message_and_a_crash_report(qtbot, window):
    class Buggy(Job):
        title = "Buggy task"

        def run(self):
            {}["missing key"]

    job = window._start(Buggy())
    job.start(window.pool)
    qtbot.waitUntil(lambda: not job.running and job not in window.jobs, timeout=10_000)
    assert "KeyError" in job.error and "a crash report is in" in job.error
    report = Path(job.error.split("a crash report is in ")[1].split(" — ")[0])
    assert "Buggy task" in report.read_text() and "Traceback" in report.read_text()
    assert job.error in window.statusBar().currentMessage()
    window.class_actions.add_class("Still works")  # the window goes on
    assert [c.name for c in window.session.classes] == ["Still works"]


def test_excepthook_turns_a_slot_exception_into_a_message(qtbot):
    import app.reliability as rel

    shown = []
    old_hook = sys.excepthook
    try:
        rel.install_excepthook(show=shown.append)
        try:
            raise RuntimeError("a slot went wrong")
        except RuntimeError as e:
            sys.excepthook(type(e), e, e.__traceback__)
        qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    finally:
        sys.excepthook = old_hook
    assert "RuntimeError: a slot went wrong" in shown[0] and "a crash report is in" in shown[0]
    report = Path(shown[0].split("a crash report is in ")[1].split(" — ")[0])
    assert "a slot went wrong" in report.read_text()


def test_one_class_labeled_warns_in_the_status_bar(qtbot, window, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(MINI / "Hat", photos / "Hat")
    window.imports.ask_use_subfolders = lambda names: True
    window.imports.import_paths([photos])
    qtbot.waitUntil(lambda: len(window.session) == 6 and not window.jobs, timeout=60_000)
    window.status._update_status()
    assert "one class labeled" in window.status_counts.text()
    assert "second class" in window.status_counts.toolTip()
    window.class_actions.add_class("Other")
    s = window.session
    s.set_labels([int(s.ids[0])], s.classes[-1].id)
    window.status._update_status()
    assert "one class labeled" not in window.status_counts.text()


def test_read_only_project_without_embeddings_still_predicts(qtbot, window, tmp_path, monkeypatch):
    """A shared, read-only project whose images were never embedded: the embedding pass runs in memory
    (nothing can be cached), predictions appear, and nothing reports a failure to write."""
    from core.images import file_hash

    photos = tmp_path / "shared" / "photos"
    shutil.copytree(MINI, photos)
    ro = tmp_path / "shared" / "team.fewlens"
    with Project.create(ro) as p:
        for name in ("Hat", "Pants", "Shoes"):
            cid = p.add_class(name)
            files = sorted((photos / name).iterdir())
            ids = p.add_images([(f, file_hash(f)) for f in files])
            p.set_labels(ids[:2], cid)
    real_access = os.access
    locked = {ro, ro.parent}
    monkeypatch.setattr(os, "access",
                        lambda p, mode: False if mode == os.W_OK and Path(p) in locked else real_access(p, mode))
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    job = window.files.open_project(ro, wait=True)
    assert job.error is None and window.windowTitle() == "team (read-only) — FewLens"
    s = window.session
    qtbot.waitUntil(lambda: not window.jobs and s.pending_embeddings == 0 and s.predictions_current, timeout=60_000)
    assert int(s.emb.have.sum()) == 18  # every image embedded (in memory)
    assert len(s.pred.top) == 18 and (s.pred.top >= 0).all() and (s.pred.confidence > 0).all()
    assert not [m for m in messages if "cannot write" in m or "failed" in m.lower()], messages
    assert not window.report.isVisible() or "write" not in window.report.text()
