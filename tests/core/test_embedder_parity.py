"""torch eager vs ONNX Runtime on the same preprocessed batch: the CPU engine is the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.backbones import list_backbones
from core.embedder import Embedder
from core.images import load_image

BUNDLED = [s.id for s in list_backbones() if s.weights_file is not None and s.weights_file.suffix == ".tflite"]


@pytest.fixture(scope="module")
def photos(data_dir):
    paths = sorted((data_dir / "coral" / "images").iterdir()) + sorted((data_dir / "coral" / "imprinting").glob("*.bmp"))
    return [load_image(p) for p in paths if p.suffix.lower() in (".bmp", ".jpg")]


@pytest.mark.parametrize("backbone", BUNDLED)
def test_torch_and_onnxruntime_agree(backbone, photos):
    onnx = Embedder(backbone, device="cpu")
    eager = Embedder(backbone, device="cpu", engine="torch", threads=1)
    assert eager.device_label == "CPU · torch" and onnx.device_label == "CPU · ONNX Runtime"
    x = onnx.preprocess(photos)
    ort_emb, torch_emb = onnx.embed_batch(x), eager.embed_batch(x)
    rel = np.linalg.norm(ort_emb - torch_emb, axis=1) / np.linalg.norm(torch_emb, axis=1)
    assert rel.max() <= 1e-4, f"{backbone}: relative difference {rel.max():.2e}"
    if onnx.spec.has_head:
        np.testing.assert_array_equal(onnx.logits_batch(x).argmax(1), eager.logits_batch(x).argmax(1))
        assert [p[0][0] for p in onnx.classify(photos, k=1)] == [p[0][0] for p in eager.classify(photos, k=1)]
    # the module the export came from is what build_torch() gives other modules (e.g. fine-tuning)
    with torch.inference_mode():
        direct = onnx.spec.build_torch().eval()(torch.from_numpy(x[:2])).numpy()
    assert (np.linalg.norm(direct - torch_emb[:2], axis=1) / np.linalg.norm(direct, axis=1)).max() <= 1e-4


def test_embed_images_shapes_and_batches(photos):
    emb = Embedder(device="cpu")
    assert emb.device == "cpu" and emb.device_label == "CPU · ONNX Runtime"
    assert emb.spec.id == "mobilenet_v2_imagenet"
    out = emb.embed_images(photos)
    assert out.shape == (len(photos), 1280) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # batching (32 per ORT call) must not change results, nor the order
    many = photos * 3
    out_many = emb.embed_images(many)
    np.testing.assert_allclose(out_many[len(photos) : 2 * len(photos)], out, rtol=1e-5, atol=1e-6)
    assert emb.embed_images([]).shape == (0, 1280)


def test_classify_contract(photos):
    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    preds = emb.classify(photos[:3], k=5)
    assert len(preds) == 3
    for row in preds:
        assert len(row) == 5
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
        assert all(isinstance(label, str) and label for label, _ in row)
    v1 = Embedder("mobilenet_v1_imagenet", device="cpu")
    assert v1.classify(photos[:2]) == [[], []]
    assert v1.embed_images(photos[:2]).shape == (2, 1024)


def test_bad_device_is_a_clear_error():
    from core.errors import FewLensError

    with pytest.raises(FewLensError, match="unknown device"):
        Embedder(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FewLensError, match="no CUDA GPU"):
            Embedder(device="cuda")


def test_export_is_exact_under_any_onnxruntime_session(photos):
    """Other consumers (the packaged app, scripts) open the export with default ORT options."""
    import onnxruntime as ort

    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for

    spec = get_backbone("mobilenet_v2_imagenet")
    plain = ort.InferenceSession(str(onnx_path_for(spec)), providers=["CPUExecutionProvider"])
    x = Embedder(device="cpu").preprocess(photos)
    (emb,) = plain.run(["embedding"], {"input": x})
    ref = Embedder(device="cpu", engine="torch").embed_batch(x)
    assert (np.linalg.norm(emb - ref, axis=1) / np.linalg.norm(ref, axis=1)).max() <= 1e-4
