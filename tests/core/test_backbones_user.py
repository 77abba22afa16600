"""User-supplied backbones: an ONNX feature extractor, a torchvision architecture + weights file,
and a clear ModelFileError naming the file for everything that is not what it claims to be."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.backbones import get_backbone, list_backbones, register_user_backbone, unregister_backbone
from core.embedder import Embedder
from core.errors import ModelFileError

# the tiny fixtures use the (fast) TorchScript ONNX exporter, deprecated upstream
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _forget_user_backbones():
    """User models registered here must not leak into other tests' list_backbones()."""
    before = {s.id for s in list_backbones()}
    yield
    for spec in list_backbones():
        if spec.id not in before:
            unregister_backbone(spec.id)


class TinyNet(torch.nn.Module):
    """A small NCHW feature extractor standing in for a user's own model."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)

    def forward(self, x):
        return torch.relu(self.conv(x))  # (N, 8, h, w) feature map: FewLens average-pools it


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "tiny.onnx"
    torch.onnx.export(
        TinyNet().eval(),
        (torch.zeros(1, 3, 96, 96),),
        str(path),
        dynamo=False,
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}},
    )
    return path


@pytest.fixture(scope="module")
def mnv3_weights(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=7)
    path = tmp_path_factory.mktemp("user") / "mnv3_small_7cls.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def _images(n=3):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)) for _ in range(n)]


def test_onnx_feature_extractor(tiny_onnx):
    spec = register_user_backbone(tiny_onnx)
    assert spec.input_size == 96 and spec.embed_dim == 8 and spec.labels is None
    assert spec.id in {s.id for s in list_backbones()}
    assert get_backbone(spec.id) is spec
    emb = Embedder(spec.id, device="cpu")
    imgs = _images()
    out = emb.embed_images(imgs)
    assert out.shape == (3, 8) and out.dtype == np.float32
    # same numbers as running the model by hand and pooling
    x = emb.preprocess(imgs)
    with torch.no_grad():
        ref = TinyNet().eval()(torch.from_numpy(x)).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    assert emb.classify(imgs) == [[], [], []]


def test_onnx_by_path_registers_on_the_fly(tiny_onnx):
    spec = get_backbone(str(tiny_onnx))
    assert spec.onnx_file == tiny_onnx.resolve()


def test_torchvision_arch_plus_weights(mnv3_weights):
    path, model = mnv3_weights
    spec = register_user_backbone(path, arch="mobilenet_v3_small")
    assert spec.embed_dim == 1024  # classifier's last Linear removed: penultimate features
    assert spec.id == f"mobilenet_v3_small:{path.resolve()}"
    assert get_backbone(spec.id) is spec
    imgs = _images(2)
    emb = Embedder(spec.id, device="cpu")  # exported to ONNX, run on ONNX Runtime
    out = emb.embed_images(imgs)
    x = torch.from_numpy(emb.preprocess(imgs))
    with torch.no_grad():
        full = model.features(x)
        ref = model.classifier[:-1](model.avgpool(full).flatten(1)).numpy()
        logits = model(x).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(emb.logits_batch(emb.preprocess(imgs)), logits, rtol=1e-3, atol=1e-4)


# -- bad files: every error names the file ---------------------------------------------------------


def _assert_names(excinfo, path):
    assert str(path.resolve()) in str(excinfo.value) or str(path) in str(excinfo.value)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.onnx"
    with pytest.raises(ModelFileError, match="not found") as e:
        register_user_backbone(p)
    _assert_names(e, p)
    with pytest.raises(ModelFileError, match="not found"):
        register_user_backbone(tmp_path / "nope.pth", arch="resnet18")


def test_not_onnx(tmp_path, data_dir):
    p = tmp_path / "photo.onnx"
    p.write_bytes((data_dir / "coral" / "images" / "parrot.jpg").read_bytes())
    with pytest.raises(ModelFileError, match="not a loadable ONNX model") as e:
        register_user_backbone(p)
    _assert_names(e, p)


def test_truncated_onnx(tmp_path, tiny_onnx):
    p = tmp_path / "cut.onnx"
    p.write_bytes(tiny_onnx.read_bytes()[: tiny_onnx.stat().st_size // 2])
    with pytest.raises(ModelFileError) as e:
        register_user_backbone(p)
    _assert_names(e, p)


def test_onnx_that_is_not_an_image_model(tmp_path):
    p = tmp_path / "mlp.onnx"
    torch.onnx.export(torch.nn.Linear(10, 4), (torch.zeros(1, 10),), str(p), dynamo=False)
    with pytest.raises(ModelFileError, match="image input") as e:
        register_user_backbone(p)
    _assert_names(e, p)


def test_not_a_state_dict(tmp_path):
    p = tmp_path / "notes.pth"
    p.write_text("these are not weights\n")
    with pytest.raises(ModelFileError, match="not a PyTorch state dict") as e:
        register_user_backbone(p, arch="mobilenet_v3_small")
    _assert_names(e, p)


def test_pickled_object_is_refused(tmp_path):
    p = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), p)  # a whole pickled module: weights_only=True refuses it
    with pytest.raises(ModelFileError, match="state dict") as e:
        register_user_backbone(p, arch="mobilenet_v3_small")
    _assert_names(e, p)


def test_truncated_state_dict(tmp_path, mnv3_weights):
    src, _ = mnv3_weights
    p = tmp_path / "cut.pth"
    p.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt") as e:
        register_user_backbone(p, arch="mobilenet_v3_small")
    _assert_names(e, p)


def test_state_dict_for_another_architecture(mnv3_weights):
    path, _ = mnv3_weights
    with pytest.raises(ModelFileError, match="do not match torchvision mobilenet_v2") as e:
        register_user_backbone(path, arch="mobilenet_v2")
    _assert_names(e, path)


def test_unknown_architecture(mnv3_weights):
    from core.errors import FewLensError

    path, _ = mnv3_weights
    with pytest.raises(FewLensError, match="unknown torchvision architecture"):
        register_user_backbone(path, arch="not_a_net")


def test_arch_colon_path_form_for_cli_and_projects(mnv3_weights, capsys):
    import json

    from core.cli import main

    path, _ = mnv3_weights
    assert main(["backbones", "--add", f"mobilenet_v3_small:{path}", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["id"] == f"mobilenet_v3_small:{path.resolve()}" and row["embed_dim"] == 1024
    assert "user-supplied" in row["license"]
