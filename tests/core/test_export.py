"""The exported model says what the app says: ONNX (plain onnxruntime), TorchScript and the in-app
Recognizer agree on every image, for the frozen and the adapted backbone and every exportable method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from core.adaptation import AdaptationSettings
from core.errors import ModelFileError
from core.export import export_recognizer, load_torchscript, run_torchscript
from core.images import find_images, load_image
from core.preprocess import crop_uint8
from core.recognizer import Recognizer
from core.recognizer_build import build_recognizer

DATA = Path(__file__).parents[1] / "data" / "clothing_mini"
EXPORTABLE = ["softkmeans", "protonet", "linear_probe", "maml", "siamese", "relation"]
# a short adaptation: the parity of the exported graph does not depend on how well it trained
QUICK = AdaptationSettings(steps=2, views=2)


@pytest.fixture(scope="module")
def images() -> list[Path]:
    files = find_images(DATA)
    assert len(files) == 18
    return files


@pytest.fixture(scope="module")
def adapted_backbone():
    rec = build_recognizer(DATA, adapt="on", adapt_settings=QUICK)
    assert rec.adapted is not None and rec.provenance["adapted"]
    # the adapted network really is another network than the frozen one
    files = find_images(DATA)[:2]
    frozen = build_recognizer(DATA, adapt="off")
    assert np.abs(rec.embed_images(files) - frozen.embed_images(files)).max() > 1e-3
    return rec.adapted


def _plain_onnxruntime(path: Path, files: list[Path], spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a pipeline does with only onnxruntime: the documented crop, uint8 NHWC in."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.stack([crop_uint8(load_image(f, min_side=spec.resize_size), spec) for f in files])
    assert x.dtype == np.uint8 and x.shape[1:] == (spec.input_size, spec.input_size, 3)
    return tuple(sess.run(["probs", "top", "embedding"], {"images": x}))


def _check_parity(rec: Recognizer, files: list[Path], tmp: Path) -> None:
    app = rec.predict_images(files)
    # the head the file carries is the fitted method itself
    np.testing.assert_allclose(rec.head.probs(rec.embed_images(files)), app.probs, atol=1e-5)

    res = export_recognizer(rec, tmp / "model.onnx")
    onnx.checker.check_model(onnx.load(str(res.model)), full_check=True)
    probs, top, emb = _plain_onnxruntime(res.model, files, rec.spec)
    assert probs.dtype == np.float32 and top.dtype == np.int64 and emb.dtype == np.float32
    assert emb.shape == (len(files), rec.embed_dim)
    np.testing.assert_array_equal(top, app.top)
    np.testing.assert_allclose(probs, app.probs, atol=1e-4)

    ts = export_recognizer(rec, tmp / "model.pt", format="torchscript")
    module, meta = load_torchscript(ts.model)
    x = np.stack([crop_uint8(load_image(f, min_side=rec.spec.resize_size), rec.spec) for f in files])
    t_probs, t_top, _ = run_torchscript(module, x)
    np.testing.assert_array_equal(t_top, app.top)
    np.testing.assert_allclose(t_probs, app.probs, atol=1e-4)
    assert meta["classes"] == [{"name": c.name, "color": c.color} for c in rec.classes]

    # a batch of one works too (dynamic batch axis)
    one = _plain_onnxruntime(res.model, files[:1], rec.spec)
    np.testing.assert_allclose(one[0], app.probs[:1], atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", EXPORTABLE)
def test_parity_frozen_backbone(method, images, tmp_path):
    rec = build_recognizer(DATA, method=method, adapt="off")
    assert rec.adapted is None
    assert rec.predict_images(images).top.tolist() == [0] * 6 + [1] * 6 + [2] * 6  # it does recognize them
    _check_parity(rec, images, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("method", EXPORTABLE)
def test_parity_adapted_backbone(method, images, adapted_backbone, tmp_path):
    rec = build_recognizer(DATA, method=method, adapted=adapted_backbone)
    assert rec.adapted is adapted_backbone and rec.provenance["adapted"]
    _check_parity(rec, images, tmp_path)


def test_metadata_sidecar_labels_and_load(images, tmp_path):
    rec = build_recognizer(DATA, adapt="off")
    res = rec.export(tmp_path / "out" / "model.onnx")
    model = onnx.load(str(res.model))
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props["fewlens"])
    assert meta["format_version"] == 1 and meta["method"] == "auto"  # the default: chosen from the labels
    chosen = rec.method.choice
    assert meta["chosen"]["method"] == chosen.method in ("softkmeans", "protonet")
    assert meta["chosen"]["message"] == chosen.message() and meta["chosen"]["heldout_labels"] == 18
    assert [c["name"] for c in meta["classes"]] == ["Hat", "Pants", "Shoes"]
    assert all(c["color"].startswith("#") for c in meta["classes"])
    assert meta["backbone"]["id"] == "mobilenet_v2_imagenet" and "Apache-2.0" in meta["backbone"]["license"]
    assert meta["input"]["size"] == 224 and meta["input"]["resize"] == 256
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["dtype"] == "uint8" and meta["input"]["color"] == "RGB"
    assert "BILINEAR" in meta["input"]["resample"]
    assert meta["labels_per_class"] == {"Hat": 6, "Pants": 6, "Shoes": 6}
    assert 0.0 <= meta["unknown_threshold"] < 1.0 and meta["fewlens_version"] and meta["exported_at"]
    side = json.loads(res.sidecar.read_text())
    assert side["classes"] == meta["classes"] and side["model"] == "model.onnx"
    assert res.labels.read_text().split("\n")[:3] == ["Hat", "Pants", "Shoes"]
    assert res.runner.name == "predict_fewlens.py" and res.size_bytes == res.model.stat().st_size
    # the dynamic batch axis and the contract's shapes
    sess = ort.InferenceSession(str(res.model), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)" and inp.shape[1:] == [224, 224, 3]
    assert isinstance(inp.shape[0], str)
    loaded = Recognizer.load(res.model)
    assert loaded.class_names == rec.class_names and loaded.unknown_threshold == pytest.approx(rec.unknown_threshold)
    got, want = loaded.predict_images(images), rec.predict_images(images)
    np.testing.assert_allclose(got.probs, want.probs, atol=1e-4)
    # the loaded head predicts embeddings (the live path) the same as the graph
    np.testing.assert_allclose(loaded.predict_embeddings(loaded.embed_images(images)).probs, got.probs, atol=1e-5)


def test_foreign_and_corrupt_onnx_files_are_named(tmp_path):
    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for

    foreign = onnx_path_for(get_backbone("mobilenet_v2_imagenet"))  # a valid ONNX model, not a FewLens export
    with pytest.raises(ModelFileError, match="not a FewLens model") as e:
        Recognizer.load(foreign)
    assert str(foreign) in str(e.value)
    corrupt = tmp_path / "broken.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ModelFileError, match="not a loadable ONNX model") as e:
        Recognizer.load(corrupt)
    assert str(corrupt) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelFileError, match="file not found"):
        Recognizer.load(tmp_path / "missing.onnx")
