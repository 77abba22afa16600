"""Any registered spec with a torch builder gets exported to ONNX once, cached, and run on ORT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.backbones import BackboneSpec, register_backbone, unregister_backbone
from core.backbones import onnx_export
from core.embedder import Embedder


class TinyBackbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))

    def classify(self, x):
        return self.head(self.forward(x))


@pytest.fixture
def tiny_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def build():
        calls.append(1)
        return TinyBackbone().eval()

    spec = BackboneSpec(id="tiny_test_backbone", title="tiny", embed_dim=6, license="MIT", source="test",
                        input_size=32, resize_size=36, labels=["cat", "dog", "hotdog"], builder=build)
    register_backbone(spec)
    yield spec, calls
    unregister_backbone(spec.id)


def _imgs():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)) for _ in range(4)]


def test_export_once_then_reuse(tiny_spec, tmp_path):
    spec, calls = tiny_spec
    emb = Embedder(spec.id, device="cpu")
    path = tmp_path / "cache" / "onnx" / f"{spec.weights_id()}.onnx"
    assert path.is_file() and len(calls) == 1
    imgs = _imgs()
    out = emb.embed_images(imgs)
    with torch.no_grad():
        ref = TinyBackbone().eval()(torch.from_numpy(emb.preprocess(imgs))).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    top = emb.classify(imgs, k=2)
    assert all(len(r) == 2 and r[0][0] in {"cat", "dog", "hotdog"} for r in top)
    Embedder(spec.id, device="cpu")
    assert len(calls) == 1  # the cached export is reused: no torch module built again


def test_torchscript_fallback_when_dynamo_fails(tiny_spec, monkeypatch):
    spec, _ = tiny_spec

    def broken(*a, **k):
        raise RuntimeError("dynamo cannot trace this model")

    used = []
    real = onnx_export._export_torchscript

    def spy(*a, **k):
        used.append(1)
        return real(*a, **k)

    monkeypatch.setattr(onnx_export, "_export_dynamo", broken)
    monkeypatch.setattr(onnx_export, "_export_torchscript", spy)
    emb = Embedder(spec.id, device="cpu")
    assert used == [1]
    assert emb.embed_images(_imgs()).shape == (4, 6)
    assert emb.logits_batch(emb.preprocess(_imgs())).shape == (4, 3)


def test_stale_exports_of_the_same_backbone_are_pruned(tmp_path):
    d = tmp_path / "onnx"
    d.mkdir()
    keep = d / "mobilenet_v2_imagenet-aaaa.onnx"
    old = d / "mobilenet_v2_imagenet-bbbb.onnx"
    other = d / "mobilenet_v2_imagenet_x-cccc.onnx"  # another backbone whose id shares a prefix
    for f in (keep, old, other):
        f.write_bytes(b"x")
    onnx_export.prune_stale(keep)
    assert keep.exists() and not old.exists() and other.exists()


def test_pre_exported_models_in_assets_are_used_without_torch_export(tmp_path, monkeypatch):
    """The light bundle ships assets/onnx/<weights_id>.onnx: no export, no cache copy needed."""
    import shutil

    from core.backbones import get_backbone

    spec = get_backbone("mobilenet_v2_imagenet")
    built = onnx_export.onnx_path_for(spec)
    assets = tmp_path / "assets"
    (assets / "onnx").mkdir(parents=True)
    shipped = assets / "onnx" / f"{spec.weights_id()}.onnx"
    shutil.copyfile(built, shipped)
    monkeypatch.setenv("FEWLENS_ASSETS_DIR", str(assets))
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path / "empty_cache"))

    def no_export(*a, **k):
        raise AssertionError("must not export when a shipped ONNX file exists")

    monkeypatch.setattr(onnx_export, "export_onnx", no_export)
    assert onnx_export.onnx_path_for(spec) == shipped
    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    assert emb.embed_images(_imgs()[:1]).shape == (1, 1280)
