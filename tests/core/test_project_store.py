"""The project store as the GUI uses it: images, classes, labels, undo data, settings,
missing files, Save As, and clear errors for files that are not (readable) projects."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import numpy as np
import pytest

from core.errors import ProjectError
from core.images import file_hash
from core.project import PALETTE, SCHEMA_VERSION, Project


@pytest.fixture
def photos(tmp_path, data_dir):
    """A project folder with the clothing_mini photos copied under ``photos/<class>/``."""
    root = tmp_path / "proj"
    shutil.copytree(data_dir / "clothing_mini", root / "photos")
    return root


def _add_folder(p: Project, folder) -> list[int]:
    files = sorted(folder.rglob("*.jpg"))
    return p.add_images([(f, file_hash(f)) for f in files])


def test_create_reopen_roundtrip(photos):
    path = photos / "my.fewlens"
    with Project.create(path) as p:
        ids = _add_folder(p, photos / "photos")
        hat = p.add_class("Hat")
        shoes = p.add_class("Shoes")
        hats = [r.id for r in p.images() if r.path.parent.name == "Hat"]
        p.set_labels(hats, hat)
        p.set_setting("backbone", "mobilenet_v2_imagenet")
        p.set_setting("unknown_threshold", 0.35)
    assert len(ids) == 18 and len(set(ids)) == 18

    with Project.open(path) as p:
        assert p.image_count() == 18
        assert [c.name for c in p.classes()] == ["Hat", "Shoes"]
        assert {c.name: c.count for c in p.classes()} == {"Hat": 6, "Shoes": 0}
        assert set(p.labels()) == set(hats) and set(p.labels().values()) == {hat}
        assert p.get_setting("backbone") == "mobilenet_v2_imagenet"
        assert p.get_setting("unknown_threshold") == pytest.approx(0.35)
        assert p.get_setting("method", "protonet") == "protonet"
        assert p.meta()["schema_version"] == str(SCHEMA_VERSION)
        recs = p.images()
        assert all(r.path.is_absolute() and r.path.exists() and not r.missing for r in recs)
        assert p.counts().labeled == 6 and p.counts().unlabeled == 12
        assert shoes in {c.id for c in p.classes()}
        assert p.integrity_check() == "ok"


def test_paths_stored_relative_under_project_folder(photos, tmp_path):
    path = photos / "p.fewlens"
    outside = tmp_path / "elsewhere" / "x.jpg"
    outside.parent.mkdir()
    shutil.copy(next((photos / "photos" / "Hat").iterdir()), outside)
    with Project.create(path) as p:
        _add_folder(p, photos / "photos")
        p.add_images([(outside, file_hash(outside))])
    raw = sqlite3.connect(path).execute("SELECT path FROM images ORDER BY id").fetchall()
    stored = [r[0] for r in raw]
    assert all(s.startswith("photos/") for s in stored[:18])
    assert stored[18] == str(outside.resolve())

    # Move the whole project folder: relative images follow, the outside one stays put.
    moved = tmp_path / "moved"
    shutil.move(str(photos), moved)
    with Project.open(moved / "p.fewlens") as p:
        recs = p.images()
        assert not any(r.missing for r in recs)
        assert recs[0].path.is_relative_to(moved)
        assert recs[18].path == outside.resolve()


def test_add_images_skips_duplicate_paths(photos):
    with Project.create(photos / "p.fewlens") as p:
        first = _add_folder(p, photos / "photos")
        again = _add_folder(p, photos / "photos")
        assert again == first
        f = photos / "photos" / "Hat" / sorted((photos / "photos" / "Hat").iterdir())[0].name
        ids = p.add_images([(f, file_hash(f)), (f, file_hash(f))])
        assert ids[0] == ids[1] and p.image_count() == 18


def test_filters(photos):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a, b = p.add_class("A"), p.add_class("B")
        p.set_labels(ids[:2], a)
        p.set_labels(ids[2:5], b)
        assert [r.id for r in p.images(class_id=a)] == ids[:2]
        assert [r.id for r in p.images(labeled=True)] == ids[:5]
        assert [r.id for r in p.images(labeled=False)] == ids[5:]
        assert [r.id for r in p.images(class_id=None)] == ids[5:]
        assert [r.id for r in p.images(ids=[ids[7], ids[3]])] == sorted([ids[3], ids[7]])
        assert p.image(ids[3]).class_id == b
        with pytest.raises(ProjectError):
            p.image(10_000)


def test_label_undo_data(photos):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a, b = p.add_class("A"), p.add_class("B")
        prev1 = p.set_labels(ids[:3], a)
        assert prev1 == {ids[0]: None, ids[1]: None, ids[2]: None}
        prev2 = p.set_labels(ids[1:4], b)
        assert prev2 == {ids[1]: a, ids[2]: a, ids[3]: None}
        # undo the second action, then the first: back to nothing labeled
        p.apply_labels(prev2)
        assert p.labels() == {ids[0]: a, ids[1]: a, ids[2]: a}
        p.apply_labels(prev1)
        assert p.labels() == {}
        with pytest.raises(ProjectError, match="no class"):
            p.set_labels(ids[:1], 999)
        assert p.set_labels(ids[:1], None) == {ids[0]: None}


def test_class_names_colors_order(photos):
    with Project.create(photos / "p.fewlens") as p:
        ids = [p.add_class(n) for n in ("Cat", "Dog", "Hot dog")]
        colors = [c.color for c in p.classes()]
        assert len(set(colors)) == 3 and colors == list(PALETTE[:3])
        with pytest.raises(ProjectError, match="already exists"):
            p.add_class("cat")
        with pytest.raises(ProjectError, match="already exists"):
            p.rename_class(ids[1], "HOT DOG")
        with pytest.raises(ProjectError, match="empty"):
            p.add_class("   ")
        assert p.rename_class(ids[1], "Doggo") == "Dog"
        assert p.rename_class(ids[0], "cat") == "Cat"  # case change of itself is fine
        assert p.set_class_color(ids[2], "#abc") == PALETTE[2]
        with pytest.raises(ProjectError, match="invalid color"):
            p.set_class_color(ids[2], "blue-ish")
        before = p.reorder_classes([ids[2], ids[0], ids[1]])
        assert before == ids
        assert [c.name for c in p.classes()] == ["Hot dog", "cat", "Doggo"]
        assert p.classes()[0].color == "#AABBCC"
        with pytest.raises(ProjectError):
            p.reorder_classes([ids[0]])
        assert p.class_by_name("DOGGO").id == ids[1]
        # more classes than the palette still get distinct colors
        for i in range(20):
            p.add_class(f"extra {i}")
        cols = [c.color for c in p.classes()]
        assert len(set(cols)) == len(cols)


def test_delete_and_merge_are_undoable(photos):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a, b, c = p.add_class("A"), p.add_class("B"), p.add_class("C")
        p.set_labels(ids[:4], a)
        p.set_labels(ids[4:6], b)
        p.set_labels(ids[6:7], c)

        gone = p.delete_class(a)
        assert gone.name == "A" and gone.image_ids == tuple(ids[:4])
        assert [x.name for x in p.classes()] == ["B", "C"]
        assert all(r.class_id is None for r in p.images(ids=ids[:4]))
        assert p.image_count() == 18  # images stay in the project
        p.restore_class(gone)
        assert [x.name for x in p.classes()] == ["A", "B", "C"]
        assert {i: p.labels()[i] for i in ids[:4]} == {i: a for i in ids[:4]}

        merged = p.merge_classes([b, c], a)
        assert [x.name for x in p.classes()] == ["A"]
        assert p.classes()[0].count == 7
        p.restore_class(merged)
        assert {x.name: x.count for x in p.classes()} == {"A": 4, "B": 2, "C": 1}
        assert p.labels()[ids[6]] == c


def test_remove_images_and_restore(photos):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a = p.add_class("A")
        p.set_labels(ids[:2], a)
        removed = p.remove_images(ids[1:3])
        assert [r.id for r in removed] == ids[1:3]
        assert p.image_count() == 16 and p.labels() == {ids[0]: a}
        assert all((photos / "photos" / r.stored_path.split("/", 1)[1]).exists() for r in removed)  # not deleted
        p.restore_images(removed)
        assert p.image_count() == 18 and p.labels() == {ids[0]: a, ids[1]: a}
        assert [r.id for r in p.images()] == ids


def test_missing_and_locate_by_hash(photos, tmp_path):
    path = tmp_path / "p.fewlens"  # project outside the photo folder: absolute paths
    with Project.create(path) as p:
        ids = _add_folder(p, photos / "photos")
        a = p.add_class("A")
        p.set_labels(ids[:3], a)
    # The user reorganizes: Hat folder moved and its files renamed; one file deleted.
    hat = photos / "photos" / "Hat"
    new_home = tmp_path / "archive" / "hats"
    new_home.mkdir(parents=True)
    hat_files = sorted(hat.iterdir())
    for i, f in enumerate(hat_files[:-1]):
        shutil.move(str(f), new_home / f"renamed_{i}.jpg")
    hat_files[-1].unlink()
    shutil.rmtree(hat)
    (new_home / "unrelated.jpg").write_bytes(b"not the same bytes")

    with Project.open(path) as p:
        missing = p.missing_images()
        assert len(missing) == 6  # shown as missing, not dropped
        assert p.image_count() == 18
        assert p.locate(tmp_path / "archive") == 5
        still = p.missing_images()
        assert len(still) == 1 and still[0].path.name == hat_files[-1].name
        assert p.labels() == {i: a for i in ids[:3]}  # labels survive the relink
        relinked = [r for r in p.images() if r.path.parent == new_home]
        assert len(relinked) == 5 and all(file_hash(r.path) == r.hash for r in relinked)
        assert p.locate(tmp_path / "archive") == 0


def test_locate_can_be_cancelled(photos, tmp_path):
    from core.errors import Cancelled

    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        _add_folder(p, photos / "photos")
    shutil.move(str(photos / "photos"), tmp_path / "moved")
    with Project.open(path) as p:
        calls = []
        with pytest.raises(Cancelled):
            p.locate(tmp_path / "moved", progress=lambda d, t: calls.append((d, t)), cancel=lambda: len(calls) >= 3)
        assert len(p.missing_images()) == 18  # nothing half-relinked
        seen = []
        assert p.locate(tmp_path / "moved", progress=lambda d, t: seen.append((d, t))) == 18
        assert seen[-1] == (18, 18)


def test_embedding_cache_in_project(photos):
    path = photos / "p.fewlens"
    vecs = {"aa": np.arange(4, dtype=np.float32), "bb": np.ones(4, np.float32)}
    with Project.create(path) as p:
        p.embedding_cache.put_many("mobilenet_v2_imagenet", vecs)
        got = p.embedding_cache.get_many(["aa", "bb", "cc"], "mobilenet_v2_imagenet")
        assert set(got) == {"aa", "bb"} and np.array_equal(got["aa"], vecs["aa"])
        assert p.embedding_cache.get_many(["aa"], "other_backbone") == {}
    with Project.open(path) as p:
        got = p.embedding_cache.get_many(["bb"], "mobilenet_v2_imagenet")
        assert got["bb"].dtype == np.float32 and np.array_equal(got["bb"], vecs["bb"])
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(embeddings)")]
    assert cols == ["hash", "backbone", "vec"]  # the EmbeddingCache contract


def test_project_embeddings_dropped_when_backbone_weights_change(tmp_path):
    with Project.create(tmp_path / "p.fewlens") as p:
        cache = p.embedding_cache
        assert cache.check_backbone("bk", "weights-v1") is False
        cache.put_many("bk", {"h1": np.ones(3, np.float32)})
        cache.put_many("other", {"h1": np.zeros(3, np.float32)})
        assert cache.check_backbone("bk", "weights-v1") is False
        assert cache.backbones() == {"bk": 1, "other": 1}
        assert cache.check_backbone("bk", "weights-v2") is True  # stale vectors are not served
        assert cache.get_many(["h1"], "bk") == {} and cache.count("other") == 1


def test_save_as_copy_rerelativizes(photos, tmp_path):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a = p.add_class("A")
        p.set_labels(ids[:5], a)
        p.embedding_cache.put_many("bb", {"h": np.zeros(3, np.float32)})
        dest_dir = tmp_path / "copies"
        dest_dir.mkdir()
        with p.save_as(dest_dir / "copy.fewlens") as q:
            assert q.path == (dest_dir / "copy.fewlens").resolve()
            assert [r.path for r in q.images()] == [r.path for r in p.images()]
            assert not any(r.missing for r in q.images())
            assert q.labels() == p.labels()
            assert q.embedding_cache.get_many(["h"], "bb")["h"].shape == (3,)
            q.set_labels(ids[5:6], a)  # the copy is independent
        assert ids[5] not in p.labels()
        with pytest.raises(ProjectError, match="already exists"):
            p.save_as(dest_dir / "copy.fewlens")
        # a copy saved back inside the photo folder stores relative paths again
        with p.save_as(photos / "photos" / "inner.fewlens") as q:
            stored = [r[0] for r in q._conn().execute("SELECT path FROM images")]
            assert all(not s.startswith("/") and not s.startswith("..") for s in stored)
            assert not any(r.missing for r in q.images())


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not a FewLens project"),
        (b"hello, I am a text file\n" * 10, "not an SQLite database"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an SQLite database"),
    ],
)
def test_open_rejects_non_projects(tmp_path, content, match):
    f = tmp_path / "bogus.fewlens"
    f.write_bytes(content)
    with pytest.raises(ProjectError, match=match) as e:
        Project.open(f)
    assert str(f) in str(e.value)


def test_open_rejects_other_sqlite_and_newer_versions(tmp_path):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="SQLite database but not a FewLens project") as e:
        Project.open(other)
    assert str(other) in str(e.value)

    newer = tmp_path / "newer.fewlens"
    Project.create(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.execute("UPDATE meta SET value = '9.0' WHERE key = 'app_version'")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="newer FewLens") as e:
        Project.open(newer)
    assert str(newer) in str(e.value) and "9.0" in str(e.value)


def test_open_errors_missing_folder_and_locked(tmp_path):
    with pytest.raises(ProjectError, match="no such project file"):
        Project.open(tmp_path / "nope.fewlens")
    with pytest.raises(ProjectError, match="is a folder"):
        Project.open(tmp_path)
    path = tmp_path / "p.fewlens"
    Project.create(path).close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path)
    # Another program holds an exclusive lock on the file.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        import core.project.schema as cp  # where the format constants live

        old = cp.BUSY_TIMEOUT_MS
        cp.BUSY_TIMEOUT_MS = 100
        try:
            with pytest.raises(ProjectError, match="locked") as e:
                Project.open(path)
            assert str(path) in str(e.value)
        finally:
            cp.BUSY_TIMEOUT_MS = old
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Project.open(path) as p:
        assert p.integrity_check() == "ok"


def test_write_while_another_program_locks_the_file(tmp_path, monkeypatch):
    import core.project.schema as cp  # where the format constants live

    path = tmp_path / "p.fewlens"
    monkeypatch.setattr(cp, "BUSY_TIMEOUT_MS", 100)
    with Project.create(path) as p:
        cid = p.add_class("A")
        holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        try:
            with pytest.raises(ProjectError, match="locked by another program") as e:
                p.rename_class(cid, "B")
            assert str(path) in str(e.value)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        p.rename_class(cid, "B")  # works again once released
        assert p.classes()[0].name == "B"


def test_create_rejects_missing_parent(tmp_path):
    with pytest.raises(ProjectError, match="folder for the project does not exist"):
        Project.create(tmp_path / "no" / "such" / "p.fewlens")


def test_closed_project_refuses_use(tmp_path):
    p = Project.create(tmp_path / "p.fewlens")
    p.close()
    with pytest.raises(ProjectError, match="closed"):
        p.classes()


def test_reads_from_ui_thread_while_worker_writes(photos):
    """One connection per thread: a reader never sees a half-applied bulk write."""
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        a, b = p.add_class("A"), p.add_class("B")
        errors: list[BaseException] = []
        stop = threading.Event()

        def worker():
            try:
                for i in range(60):
                    p.set_labels(ids, a if i % 2 else b)  # all 18 flip together
                    p.embedding_cache.put_many("bk", {f"h{i}": np.full(8, i, np.float32)})
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)
            finally:
                stop.set()

        t = threading.Thread(target=worker)
        t.start()
        seen = 0
        while not stop.is_set():
            labels = set(p.labels().values())
            assert len(labels) <= 1  # all-A or all-B, never a mix
            seen += 1
        t.join()
        assert not errors and seen > 0
        assert len(p.embedding_cache.get_many([f"h{i}" for i in range(60)], "bk")) == 60


def test_migration_hook_upgrades_older_files(tmp_path, monkeypatch):
    """A file from the previous format is upgraded in place by the registered step."""
    import core.project.schema as cp  # where the format constants live

    path = tmp_path / "old.fewlens"
    with Project.create(path) as p:
        p.add_class("Keep me")

    def add_notes(con):
        con.execute("ALTER TABLE classes ADD COLUMN notes TEXT DEFAULT ''")

    monkeypatch.setattr(cp, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(cp.MIGRATIONS, SCHEMA_VERSION, add_notes)
    with Project.open(path) as p:
        assert p.meta()["schema_version"] == str(SCHEMA_VERSION + 1)
        assert [c.name for c in p.classes()] == ["Keep me"]
        cols = [r[1] for r in p._conn().execute("PRAGMA table_info(classes)")]
        assert "notes" in cols
    bak = sqlite3.connect(tmp_path / f"old.fewlens.format{SCHEMA_VERSION}.bak")  # the original, kept
    assert bak.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert bak.execute("SELECT name FROM classes").fetchall() == [("Keep me",)]
    bak.close()
    monkeypatch.setattr(cp, "SCHEMA_VERSION", SCHEMA_VERSION + 2)  # no step registered: clear error
    with pytest.raises(ProjectError, match="no upgrade path"):
        Project.open(path)


def test_existing_files_both_strategies(tmp_path):
    from core.project import existing_files

    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir(), small.mkdir()
    paths = []
    for i in range(40):  # many in one folder: listed once
        (big / f"{i}.jpg").write_bytes(b"x")
        paths.append(str(big / f"{i}.jpg"))
    for i in range(3):  # a few: stat'ed
        (small / f"{i}.jpg").write_bytes(b"x")
        paths.append(str(small / f"{i}.jpg"))
    (big / "3.jpg").unlink()
    (big / "4.jpg").unlink()
    (big / "4.jpg").mkdir()  # a folder with an image's name is not the image
    (small / "1.jpg").unlink()
    paths.append(str(tmp_path / "gone" / "x.jpg"))
    found = existing_files(paths)
    assert set(paths) - found == {str(big / "3.jpg"), str(big / "4.jpg"), str(small / "1.jpg"), str(tmp_path / "gone" / "x.jpg")}


def test_relink_one_file(photos, tmp_path):
    with Project.create(photos / "p.fewlens") as p:
        ids = _add_folder(p, photos / "photos")
        rec = p.image(ids[0])
        moved = tmp_path / "picked.jpg"
        shutil.move(rec.file, moved)
        assert p.image(ids[0]).missing
        p.relink(ids[0], moved)
        assert p.image(ids[0]).path == moved and not p.image(ids[0]).missing
        with pytest.raises(ProjectError, match="file not found"):
            p.relink(ids[0], tmp_path / "nope.jpg")
        with pytest.raises(ProjectError, match="already in the project"):
            p.relink(ids[0], p.image(ids[1]).path)
