"""The session's Recognizer, shared by Try it, Export and the camera; Try it → Load model…"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app import file_dialogs  # noqa: E402
from core.fitting import UNLABELED  # noqa: E402
from core.images import find_images  # noqa: E402
from core.recognizer import Recognizer  # noqa: E402
from app_helpers import idle, imported_window  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """clothing_mini with its folder names as labels, 2 of 6 per class kept labeled."""
    w = imported_window(qtbot, tmp_path, monkeypatch)
    s = w.session
    keep = {int(s.ids[r]) for c in s.classes for r in np.flatnonzero(s.labels == c.id)[:2]}
    s.set_labels([int(i) for i in s.ids if int(i) not in keep], None)
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    yield w
    w.close()


def test_the_session_recognizer_predicts_what_the_gallery_shows_and_is_republished(qtbot, window):
    s = window.session
    rec = s.recognizer()
    assert rec is s.recognizer()  # built once per fit
    cols = [list(s.pred.class_ids).index(c) for c in rec.class_ids]
    np.testing.assert_allclose(rec.predict_embeddings(s.emb.data).probs, s.pred.probs[:, cols], atol=1e-5)
    # a new photo through the recognizer's backbone: the prediction the gallery has for it
    row = int(np.flatnonzero(s.labels == UNLABELED)[0])
    got = rec.predict_images([Path(s.files[row])])
    np.testing.assert_allclose(got.probs[0], s.pred.probs[row][cols], atol=1e-4)
    with qtbot.waitSignal(s.recognizerChanged, timeout=5_000):
        s.set_method("protonet")
    qtbot.waitUntil(lambda: idle(window), timeout=20_000)
    fresh = s.recognizer()
    assert fresh is not rec and fresh.method_name == "protonet"


def test_export_uses_the_session_recognizer_without_refitting(qtbot, window, tmp_path):
    s = window.session
    dlg = window.files.export_dialog()
    assert not dlg.blocker and dlg.export_button.isEnabled()
    dlg.path.setText(str(tmp_path / "m.onnx"))
    job = dlg.start_export()
    qtbot.waitUntil(lambda: job.result is not None or job.error is not None, timeout=180_000)
    assert job.error is None
    assert job.recognizer is s.recognizer()  # the session's, not a second fit
    files = find_images(MINI)
    np.testing.assert_allclose(Recognizer.load(tmp_path / "m.onnx").predict_images(files).probs,
                               job.recognizer.predict_images(files).probs, atol=1e-4)
    dlg.close()


def test_export_says_up_front_when_the_backbone_cannot_be_exported(qtbot, window, monkeypatch):
    import app.widgets.export_dialog as ed

    monkeypatch.setattr(ed, "export_blocker_for", lambda session: "backbone x is an ONNX file without a torch module")
    dlg = window.files.export_dialog()
    assert not dlg.export_button.isEnabled()
    assert "cannot be exported" in dlg.result.text() and "ONNX file without a torch module" in dlg.result.text()
    dlg.close()


def test_try_it_loads_an_exported_model_and_predicts_with_it(qtbot, window, tmp_path, monkeypatch):
    from core.recognizer_build import build_recognizer

    # a model of other classes than the project's: Try it must show the model's, not the project's
    support = tmp_path / "support"
    for name in ("Hat", "Shoes"):
        shutil.copytree(MINI / name, support / f"my {name.lower()}")
    model = build_recognizer(support, adapt="off", method="protonet").save(tmp_path / "two.onnx")
    dialog = window.show_try_it()
    monkeypatch.setattr(file_dialogs, "get_open_file_name", lambda *a, **k: str(model))
    dialog.load_model_dialog()
    assert dialog.model is not None and "two.onnx" in dialog.model_label.text()
    probe = sorted((MINI / "Shoes").glob("*.jpg"))[-1]
    dialog.try_paths([probe])
    qtbot.waitUntil(lambda: len(dialog.results) == 1 and not dialog.job.running, timeout=60_000)
    expected = Recognizer.load(model).predict_images([probe])
    r = dialog.results[0]
    assert r.error is None and r.top[0][0] == int(expected.top[0])
    assert r.top[0][1] == pytest.approx(float(expected.confidence[0]), abs=1e-4)
    assert "my shoes" in dialog.row_text(0)
    dialog.close()


@pytest.mark.parametrize("content", [b"not an onnx file at all", None])
def test_try_it_names_a_corrupt_or_foreign_model(qtbot, window, tmp_path, content):
    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for

    if content is None:  # a real ONNX model that FewLens did not export
        bad = onnx_path_for(get_backbone("mobilenet_v2_imagenet"))
        reason = "not a FewLens model"
    else:
        bad = tmp_path / "broken.onnx"
        bad.write_bytes(content)
        reason = "not a loadable ONNX model"
    dialog = window.show_try_it()
    assert not dialog.load_model(bad)
    assert str(bad) in dialog.status.text() and reason in dialog.status.text()
    assert dialog.model is None and "this project" in dialog.model_label.text()
    dialog.close()
