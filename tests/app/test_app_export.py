"""File -> Export model…: the dialog runs the export in the background and shows the result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.images import file_hash, find_images  # noqa: E402
from core.project import Project  # noqa: E402
from core.recognizer import Recognizer  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


def test_export_dialog_writes_the_model_the_gallery_shows(qtbot, tmp_path):
    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        for name in ("Hat", "Pants", "Shoes"):
            cid = p.add_class(name)
            ids = p.add_images([(f, file_hash(f)) for f in find_images(MINI / name)])
            p.set_labels(ids[:2], cid)
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    assert window.act_export.isEnabled() and "Export model" in window.act_export.text()
    dlg = window.files.export_dialog()
    assert "Hat (2)" in dlg.what.text() and "not adapted" in dlg.what.text()
    target = tmp_path / "out" / "clothes.onnx"
    dlg.path.setText(str(target))
    job = dlg.start_export()
    assert window.banner.current is job  # progress and Cancel in the task banner
    qtbot.waitUntil(lambda: job.result is not None or job.error is not None, timeout=180_000)
    qtbot.waitUntil(lambda: dlg.copy.isVisible(), timeout=10_000)
    assert job.error is None and target.is_file()
    assert "MB" in dlg.result.text() and "predict_fewlens.py" in dlg.runner_command
    dlg.copy.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == dlg.runner_command
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["labels_per_class"] == {"Hat": 2, "Pants": 2, "Shoes": 2}
    # the exported model predicts what the session's method predicts on the same images
    rec = Recognizer.load(target)
    files = find_images(MINI)
    got = rec.predict_images(files)
    np.testing.assert_allclose(got.probs, job.recognizer.predict_images(files).probs, atol=1e-4)
    shot = os.environ.get("FEWLENS_EXPORT_SCREENSHOT")  # docs/export_dialog.png is rendered this way
    if shot:
        dlg.grab().save(shot)
    window.close()


def test_new_project_from_model(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for
    from core.recognizer_build import build_recognizer

    model = build_recognizer(MINI, adapt="off", method="protonet").save(tmp_path / "m.onnx")
    window = MainWindow()
    qtbot.addWidget(window)
    window.files.new_project_from_model(str(model), str(tmp_path / "again"))
    s = window.session
    assert s is not None and Path(s.path) == tmp_path / "again.fewlens"
    assert [c.name for c in s.classes] == ["Hat", "Pants", "Shoes"] and s.method == "protonet"
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warned.append(text))
    foreign = onnx_path_for(get_backbone("mobilenet_v2_imagenet"))
    window.files.new_project_from_model(str(foreign), str(tmp_path / "nope.fewlens"))
    assert warned and str(foreign) in warned[0] and "not a FewLens model" in warned[0]
    assert not (tmp_path / "nope.fewlens").exists() and Path(window.session.path) == tmp_path / "again.fewlens"
    window.close()
