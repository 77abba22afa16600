"""Labeled dataset export/import (core.labels_io, ``fewlens project export-labels/import-labels``)
and label provenance (user vs accepted prediction, project format 2)."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pytest

from core.cli import main
from core.images import file_hash
from core.project import LABELED_BY_PREDICTION, SCHEMA_VERSION, Project

CLOTHING = Path(__file__).parents[1] / "data" / "clothing_mini"


def _labels_by_hash(proj: Project) -> dict[str, tuple[str, str]]:
    names = {c.id: c.name for c in proj.classes()}
    src = proj.label_sources()
    return {r.hash: (names[r.class_id], src[r.id]) for r in proj.images(labeled=True)}


@pytest.fixture
def project(tmp_path) -> Path:
    """12 images in two source folders (one file name repeated), 9 labeled: 7 by hand, 2 accepted;
    a class name that is not a valid folder name; 3 unlabeled."""
    src = tmp_path / "photos"
    files = []
    for i, cls in enumerate(("Hat", "Pants", "Shoes")):
        for j, f in enumerate(sorted((CLOTHING / cls).glob("*.jpg"))[:4]):
            d = src / ("a" if j % 2 else "b")
            d.mkdir(parents=True, exist_ok=True)
            dst = d / (f"same_{i}.jpg" if j < 2 else f.name)  # a/same_0.jpg and b/same_0.jpg
            shutil.copy(f, dst)
            files.append((cls, dst))
    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        ids = p.add_images([(f, file_hash(f)) for _, f in files])
        cid = {name: p.add_class(name) for name in ("Hat", "Pants", "Shoes: sport/run")}
        for (cls, _), img_id, k in zip(files, ids, range(len(ids))):
            if k % 4 == 3:
                continue  # unlabeled
            target = cid["Shoes: sport/run" if cls == "Shoes" else cls]
            if k in (0, 5):
                p.apply_labels({img_id: target}, labeled_by=LABELED_BY_PREDICTION)
            else:
                p.set_labels([img_id], target)
    return path


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_export_then_import_round_trips_every_label(project, tmp_path, mode, capsys):
    out = tmp_path / "dataset"
    assert main(["project", "export-labels", str(project), str(out), "--mode", mode]) == 0
    assert "exported 9 labeled images" in capsys.readouterr().out
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and {r["labeled_by"] for r in rows} == {"user", "prediction"}
    assert sum(r["labeled_by"] == "prediction" for r in rows) == 2
    for r in rows:  # every row names a file in its class folder
        p = out / r["path"]
        assert p.is_file() and (p.is_symlink() == (mode == "symlink"))
    assert {Path(r["path"]).parts[0] for r in rows} == {"Hat", "Pants", "Shoes_ sport_run"}
    # the layout is also a --from dataset; the CSV goes into a fresh project
    new = tmp_path / "new.fewlens"
    Project.create(new).close()
    assert main(["project", "import-labels", str(new), str(out / "labels.csv")]) == 0
    assert "imported 9 labels" in capsys.readouterr().out
    with Project.open(project) as a, Project.open(new) as b:
        assert _labels_by_hash(b) == _labels_by_hash(a)
        assert len(_labels_by_hash(a)) == 9
    # importing again changes nothing and adds nothing
    assert main(["project", "import-labels", str(new), str(out / "labels.csv")]) == 0
    assert "(0 new images" in capsys.readouterr().out
    with Project.open(new) as b:
        assert b.image_count() == 9


def test_import_keeps_existing_labels_and_reports_bad_rows(project, tmp_path, capsys):
    out = tmp_path / "dataset"
    assert main(["project", "export-labels", str(project), str(out)]) == 0
    with open(out / "labels.csv", "a", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Hat/gone.jpg", "Hat", "user"])
        w.writerow(["", "Hat", "user"])
        w.writerow([next(out.glob("Pants/*.jpg")).relative_to(out).as_posix(), "Hat", "robot"])
    rows = list(csv.DictReader(open(out / "labels.csv", newline="")))
    first = rows[0]
    target = tmp_path / "t.fewlens"
    with Project.create(target) as t:  # one image already labeled differently there
        [img] = t.add_images([(out / first["path"], file_hash(out / first["path"]))])
        t.set_labels([img], t.add_class("Other"))
    assert main(["project", "import-labels", str(target), str(out / "labels.csv")]) == 1
    err = capsys.readouterr()
    assert f"{out / 'Hat' / 'gone.jpg'}: file not found" in err.err
    assert "line 12: empty path or class" in err.err and "line 13: labeled_by must be user or prediction" in err.err
    assert "1 already labeled otherwise (kept)" in err.out
    with Project.open(target) as t:
        names = {c.id: c.name for c in t.classes()}
        assert names[t.labels()[img]] == "Other"  # the user's label survived
        assert len(t.labels()) == 9


def test_export_refuses_a_non_empty_folder(project, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    assert main(["project", "export-labels", str(project), str(tmp_path / "full")]) == 1
    assert f"{tmp_path / 'full'}: not empty" in capsys.readouterr().err
    assert (tmp_path / "full" / "x.txt").read_text() == "mine"


def test_a_format_1_project_is_upgraded_with_its_labels_as_user(tmp_path):
    path = tmp_path / "old.fewlens"
    f = sorted((CLOTHING / "Hat").glob("*.jpg"))[0]
    with Project.create(path) as p:
        [i] = p.add_images([(f, file_hash(f))])
        p.set_labels([i], p.add_class("Hat"))
    con = sqlite3.connect(path)  # rewrite it as a format-1 file: no labeled_by column
    con.executescript("""
        ALTER TABLE images DROP COLUMN labeled_by;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        PRAGMA user_version = 1;""")
    con.close()
    with Project.open(path) as p:
        assert p.meta()["schema_version"] == str(SCHEMA_VERSION)
        assert p.label_sources() == {i: "user"}
    assert (tmp_path / "old.fewlens.format1.bak").exists()


def test_undo_of_a_correction_restores_accepted_provenance(tmp_path):
    f = sorted((CLOTHING / "Hat").glob("*.jpg"))[0]
    with Project.create(tmp_path / "u.fewlens") as p:
        [i] = p.add_images([(f, file_hash(f))])
        a, b = p.add_class("A"), p.add_class("B")
        p.apply_labels({i: a}, labeled_by=LABELED_BY_PREDICTION)
        prev = p.set_labels([i], b)  # the user corrects it
        assert p.label_sources() == {i: "user"}
        p.apply_labels(prev)  # undo
        assert p.labels() == {i: a} and p.label_sources() == {i: "prediction"}
        removed = p.remove_images([i])
        p.restore_images(removed)
        assert p.label_sources() == {i: "prediction"}
