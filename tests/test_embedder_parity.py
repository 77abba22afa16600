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
    torch.set_num_threads(1)
    emb = Embedder(backbone, device="cpu")
    x = emb.preprocess(photos)
    ort_emb = emb.embed_batch(x)
    model = emb.spec.build_torch().eval()
    with torch.inference_mode():
        torch_emb = model(torch.from_numpy(x)).numpy()
    rel = np.linalg.norm(ort_emb - torch_emb, axis=1) / np.linalg.norm(torch_emb, axis=1)
    assert rel.max() <= 1e-4, f"{backbone}: relative difference {rel.max():.2e}"
    if emb.spec.has_head:
        with torch.inference_mode():
            torch_top = model.classify(torch.from_numpy(x)).argmax(1).numpy()
        np.testing.assert_array_equal(emb.logits_batch(x).argmax(1), torch_top)


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
