"""File -> Predict folder… / Export labels… / Import labels… in the real window, offscreen."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.cli import main  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def window(qtbot, tmp_path):
    src = tmp_path / "labeled"
    for cls in ("Hat", "Pants", "Shoes"):
        (src / cls).mkdir(parents=True)
        for f in sorted((MINI / cls).glob("*.jpg"))[:2]:
            shutil.copy(f, src / cls / f.name)
    proj = tmp_path / "p.fewlens"
    assert main(["project", "create", str(proj), "--from", str(src), "--method", "protonet", "--embed"]) == 0
    w = MainWindow(ProjectSession(Project.open(proj)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.jobs and w.session.pending_embeddings == 0, timeout=60000)
    return w


@pytest.fixture
def queries(tmp_path) -> Path:
    q = tmp_path / "to_predict"
    for cls in ("Hat", "Pants", "Shoes"):
        (q / "sub" / cls).mkdir(parents=True)
        for f in sorted((MINI / cls).glob("*.jpg"))[2:]:
            shutil.copy(f, q / "sub" / cls / f.name)
    (q / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    return q


def test_predict_folder_writes_the_csv_and_lists_the_corrupt_file(window, queries, tmp_path, qtbot):
    out = tmp_path / "pred.csv"
    dlg = window.imports.predict_folder_dialog([queries])
    dlg.out_edit.setText(str(out))
    dlg.add_box.setChecked(True)
    job = dlg.start()
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    assert not job.error and not job.cancelled
    rows = {r["path"]: r for r in csv.DictReader(open(out, newline=""))}
    assert len(rows) == 13
    assert rows[str(queries / "corrupt.jpg")]["error"] and rows[str(queries / "corrupt.jpg")]["top_class"] == ""
    good = [r for r in rows.values() if not r["error"]]
    assert all(r["method"] == "protonet" and r["backbone"] == window.session.backbone for r in good)
    assert sum(Path(r["path"]).parent.name == r["top_class"] for r in good) >= 8
    assert [dlg.errors.item(i).text() for i in range(dlg.errors.count())] == \
        [f"{queries / 'corrupt.jpg'}: {rows[str(queries / 'corrupt.jpg')]['error']}"]
    assert "12 predicted, 1 unreadable" in dlg.status.text()
    dlg.grab().save(str(tmp_path / "predict_folder.png"))
    # "add them to the project": imported unlabeled through the normal import
    qtbot.waitUntil(lambda: len(window.session) == 6 + 12 and not window.jobs, timeout=60000)
    assert window.session.labeled_count == 6


def test_cancel_stops_cleanly_and_continue_finishes(window, tmp_path, qtbot):
    big = tmp_path / "big"
    big.mkdir()
    rng = np.random.default_rng(1)
    for i in range(400):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(big / f"n{i:03d}.png")
    out = tmp_path / "big.csv"
    dlg = window.imports.predict_folder_dialog([big])
    dlg.out_edit.setText(str(out))
    job = dlg.start()
    qtbot.waitUntil(lambda: dlg.bar.value() >= 32, timeout=60000)
    dlg.cancel_button.click()
    with qtbot.waitSignal(job.finished, timeout=30000):
        pass
    assert job.cancelled and not job.error and 32 <= job.summary.written < 400
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + job.summary.written  # every finished row, nothing torn
    assert "Cancelled after" in dlg.status.text() and dlg.resume_box.isChecked()
    job2 = dlg.start()
    with qtbot.waitSignal(job2.finished, timeout=120000):
        pass
    assert job2.summary.skipped == job.summary.written and len(out.read_text().splitlines()) == 401


def test_export_then_import_labels_through_the_window(window, tmp_path, qtbot):
    from app.controllers import labels_actions

    s = window.session
    ids = [int(i) for i in s.ids[:1]]
    s.apply_labels({ids[0]: int(s.labels[0])}, labeled_by="prediction")
    out = tmp_path / "dataset"
    job = labels_actions.start_export(window, out, "copy")
    with qtbot.waitSignal(job.finished, timeout=30000):
        pass
    assert job.summary.written == 6 and (out / "labels.csv").exists()
    empty = tmp_path / "empty.fewlens"
    Project.create(empty).close()
    w2 = MainWindow(ProjectSession(Project.open(empty)))
    qtbot.addWidget(w2)
    job = labels_actions.start_import(w2, out / "labels.csv")
    with qtbot.waitSignal(job.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: not w2.jobs and w2.session.pending_embeddings == 0, timeout=60000)
    assert w2.session.labeled_count == 6 and sorted(c.name for c in w2.session.classes) == ["Hat", "Pants", "Shoes"]
    assert sorted(w2.session.project.label_sources().values()) == ["prediction"] + ["user"] * 5
