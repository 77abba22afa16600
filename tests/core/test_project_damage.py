"""Damaged and read-only project files (issue 14, defects 3 and 9), ``fewlens project recover``,
and a seeded fuzzer: every damaged copy either opens and reads, or gives one line naming the file."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.errors import FewLensError, ProjectError
from core.project import Project


def _build(path: Path, n_images: int = 60) -> Path:
    """A project like a user's: 3 classes, labeled and unlabeled images, settings, embeddings."""
    with Project.create(path) as p:
        cls = [p.add_class(n) for n in ("Alpha", "Beta", "Gamma")]
        ids = p.add_images([(path.parent / f"img_{i:04d}.jpg", f"{i:064x}") for i in range(n_images)])
        for k, i in enumerate(ids[: n_images * 2 // 3]):
            p.set_labels([i], cls[k % 3])
        p.set_setting("backbone", "mobilenet_v2_imagenet")
        p.set_setting("unknown_threshold", 0.3)
        rng = np.random.default_rng(0)
        p.embedding_cache.put_many("mobilenet_v2_imagenet",
                                   {f"{i:064x}": rng.standard_normal(1280).astype(np.float32) for i in range(n_images)})
    return path


def _page_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:18], "big") or 65536


def _one_line_naming(err: str, path: Path) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in err


# -- the four damages the issue names ----------------------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    return _build(tmp_path / "labels.fewlens")


def _damage_page(path: Path, page: int) -> None:
    ps = _page_size(path)
    data = bytearray(path.read_bytes())
    rnd = random.Random(page)
    data[(page - 1) * ps : page * ps] = bytes(rnd.randrange(256) for _ in range(ps))
    path.write_bytes(bytes(data))


def _sql(path: Path, *stmts: str) -> None:
    con = sqlite3.connect(path)
    for s in stmts:
        con.execute(s)
    con.commit()
    con.close()


DAMAGES = {
    "random bytes at page 3": lambda p: _damage_page(p, 3),
    "missing table": lambda p: _sql(p, "DROP TABLE settings"),
    "setting that is not JSON": lambda p: _sql(p, "UPDATE settings SET value = '{oops' WHERE key = 'backbone'"),
    "non-numeric unknown_threshold": lambda p: _sql(p, "UPDATE settings SET value = '\"high\"' "
                                                   "WHERE key = 'unknown_threshold'"),
}


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_damaged_project_says_which_file_what_and_what_to_do(project, kind, capsys, tmp_path):
    DAMAGES[kind](project)
    with pytest.raises(ProjectError) as e:
        Project.open(project)
    msg = str(e.value)
    assert e.value.path == str(project) and "damaged" in msg and "backup" in msg and "recover" in msg
    assert main(["project", "info", str(project)]) == 1
    _one_line_naming(capsys.readouterr().err, project)

    # recover: every readable row into a new file that opens and shows the labels
    out = tmp_path / "salvaged.fewlens"
    before = project.read_bytes()
    assert main(["project", "recover", str(project), str(out)]) == 0
    assert project.read_bytes() == before  # the damaged file is only read
    assert f"into {out}" in capsys.readouterr().out
    with Project.open(out) as p:
        assert p.integrity_check() == "ok"
        n = p.counts()
        assert {c.name for c in p.classes()} <= {"Alpha", "Beta", "Gamma"}
        if kind != "random bytes at page 3":  # nothing but the named damage: everything else is there
            assert n.images == 60 and n.labeled == 40 and n.classes == 3
            assert p.embedding_cache.count() == 60
        else:
            assert n.images > 0
        s = p.settings()
        if kind == "non-numeric unknown_threshold":
            assert "unknown_threshold" not in s and s["backbone"] == "mobilenet_v2_imagenet"


def test_recover_refuses_a_file_that_is_not_a_database(tmp_path, capsys):
    junk = tmp_path / "junk.fewlens"
    junk.write_bytes(b"hello" * 100)
    assert main(["project", "recover", str(junk), str(tmp_path / "out.fewlens")]) == 1
    _one_line_naming(capsys.readouterr().err, junk)


def test_damage_in_the_embedding_table_is_named_when_read(tmp_path):
    path = _build(tmp_path / "emb.fewlens", n_images=400)
    con = sqlite3.connect(path)
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'embeddings'").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    _damage_page(path, root)  # the table's root: every lookup goes through it
    with Project.open(path) as p:  # the views' tables are sound: it opens
        with pytest.raises(ProjectError) as e:
            p.embedding_cache.get_many([f"{i:064x}" for i in range(400)], "mobilenet_v2_imagenet")
    assert e.value.path == str(path) and "damaged" in str(e.value) and pages > root


# -- read-only --------------------------------------------------------------------------------------


def test_read_only_project_opens_read_only(project, monkeypatch, capsys, tmp_path):
    real_access = os.access
    # we run as root, for whom chmod 444 does not bite: the check sees what a user would
    locked = {project, project.parent}
    monkeypatch.setattr(os, "access",
                        lambda p, mode: False if mode == os.W_OK and Path(p) in locked else real_access(p, mode))
    with pytest.raises(ProjectError, match="read-only"):
        Project.open(project)
    assert main(["project", "info", str(project)]) == 0
    assert "read-only" in capsys.readouterr().out.splitlines()[0]
    before = project.read_bytes()
    with Project.open_any(project) as p:
        assert p.read_only and p.counts().labeled == 40 and len(p.images()) == 60
        assert p.embedding_cache.count() == 60
        with pytest.raises(ProjectError, match="read-only.*Save As"):
            p.set_labels([1], None)
        (tmp_path / "mine").mkdir()
        copy = p.save_as(tmp_path / "mine" / "mine.fewlens")
    monkeypatch.undo()
    with copy:
        assert not copy.read_only
        copy.set_labels([1], None)
        assert copy.counts().labeled == 39
    assert project.read_bytes() == before


# -- fuzzing ------------------------------------------------------------------------------------------


def _sql_damages(rnd: random.Random) -> list[list[str]]:
    return [
        ["DROP TABLE images"], ["DROP TABLE classes"], ["DROP TABLE meta"], ["DROP TABLE embeddings"],
        ["DROP INDEX images_hash"], ["DROP INDEX classes_name"],
        ["DELETE FROM meta WHERE key = 'format'"], ["DELETE FROM meta WHERE key = 'schema_version'"],
        ["UPDATE meta SET value = 'x' WHERE key = 'schema_version'"],
        ["UPDATE meta SET value = '99' WHERE key = 'schema_version'"],
        ["PRAGMA application_id = 1"],
        ["UPDATE settings SET value = 'nan' WHERE key = 'unknown_threshold'"],
        ["UPDATE settings SET value = '7' WHERE key = 'unknown_threshold'"],
        ["UPDATE settings SET value = '[1]' WHERE key = 'backbone'"],
        ["INSERT INTO settings VALUES ('x', X'FF00')"],
        ["UPDATE images SET class_id = 999 WHERE id = 3"],
        ["UPDATE images SET hash = 12 WHERE id = 4"],
        ["UPDATE images SET path = X'00FF' WHERE id = 5"],
        ["UPDATE classes SET color = 'red' WHERE id = 1"],
        ["UPDATE classes SET position = 'first' WHERE id = 2"],
        ["UPDATE embeddings SET vec = X'0102' WHERE rowid IN (SELECT rowid FROM embeddings LIMIT 1)"
         .replace("rowid IN (SELECT rowid FROM embeddings LIMIT 1)", f"hash = '{rnd.randrange(60):064x}'")],
        ["ALTER TABLE images RENAME TO pictures"],
        ["ALTER TABLE classes DROP COLUMN color"],
        ["PRAGMA writable_schema = ON",
         "UPDATE sqlite_master SET sql = 'CREATE TABLE settings (k)' WHERE name = 'settings'"],
    ]


def _exercise(path: Path) -> str:
    """Open and read everything a view reads; 'ok', or the one-line error."""
    try:
        with Project.open(path) as p:
            p.images()
            p.classes()
            p.counts()
            p.labels()
            p.settings()
            p.meta()
            p.embedding_cache.backbones()
            p.embedding_cache.get_many([f"{i:064x}" for i in range(60)], "mobilenet_v2_imagenet")
        return "ok"
    except FewLensError as e:
        msg = str(e)
        assert "\n" not in msg and getattr(e, "path", None) == str(path), msg
        return msg


def fuzz(workdir: Path, seconds: float, max_copies: int, seed: int = 14) -> dict[str, int]:
    """Damage copies of a 60-image project (SQL-level damages first, then random bytes / pages /
    truncation / zeroed pages, seeded) and open each as a view would; returns the outcome counts.
    Every open must work or give one line naming the file (``_exercise`` asserts it).
    Also run at length by bench/bench_reliability.py."""
    seed_file = _build(workdir / "seed.fewlens")
    pristine = seed_file.read_bytes()
    ps = _page_size(seed_file)
    rnd = random.Random(seed)
    outcomes: dict[str, int] = {"copies": 0, "ok": 0, "error": 0}
    deadline = time.monotonic() + seconds
    cases: list[tuple[str, object]] = [("sql", d) for d in _sql_damages(rnd)]
    while time.monotonic() < deadline and outcomes["copies"] < max_copies:
        if cases:
            kind, arg = cases.pop(0)
        else:
            kind = rnd.choice(["bytes", "bytes", "page", "truncate", "zero"])
            arg = None
        path = workdir / f"fuzz_{outcomes['copies']}.fewlens"
        data = bytearray(pristine)
        if kind == "bytes":  # a burst of random bytes anywhere past the 100-byte header
            off = rnd.randrange(100, len(data))
            k = rnd.choice([1, 4, 16, 64, 512])
            data[off : off + k] = bytes(rnd.randrange(256) for _ in range(min(k, len(data) - off)))
        elif kind == "page":  # a whole page of garbage
            pg = rnd.randrange(2, len(data) // ps + 1)
            data[(pg - 1) * ps : pg * ps] = bytes(rnd.randrange(256) for _ in range(ps))
        elif kind == "truncate":
            data = data[: rnd.randrange(100, len(data))]
        elif kind == "zero":
            pg = rnd.randrange(2, len(data) // ps + 1)
            data[(pg - 1) * ps : pg * ps] = bytes(ps)
        path.write_bytes(bytes(data))
        if kind == "sql":
            try:
                _sql(path, *arg)
            except sqlite3.Error:
                path.unlink()
                continue
        result = _exercise(path)
        outcomes["ok" if result == "ok" else "error"] += 1
        outcomes["copies"] += 1
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return outcomes


def test_fuzz_damaged_copies_open_or_fail_with_one_line(tmp_path):
    # bounded: the fuzzer's share of the suite (seeded: the same copies in the same order each run)
    out = fuzz(tmp_path, seconds=12, max_copies=600)
    assert out["copies"] >= 100 and out["error"] >= 20 and out["ok"] >= 5, out
