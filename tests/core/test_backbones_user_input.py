"""A user ONNX backbone's input size and normalization: stated by the user, or by the model's metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.backbones import get_backbone, list_backbones, register_user_backbone, unregister_backbone
from core.cli import main
from core.embedder import Embedder
from core.errors import FewLensError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _forget_user_backbones():
    before = {s.id for s in list_backbones()}
    yield
    for spec in list_backbones():
        if spec.id not in before:
            unregister_backbone(spec.id)


class MeanPixel(torch.nn.Module):
    """Embedding = each channel's mean input value: shows exactly what normalization was applied."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def _export(path, metadata=None, size=None):
    import onnx

    shape = (1, 3, size or 64, size or 64)
    torch.onnx.export(MeanPixel().eval(), (torch.zeros(*shape),), str(path), dynamo=False, input_names=["x"],
                      output_names=["emb"],
                      dynamic_axes={"x": {0: "n"} if size else {0: "n", 2: "h", 3: "w"}, "emb": {0: "n"}})
    if metadata:
        model = onnx.load(str(path))
        for k, v in metadata.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save(model, str(path))
    return path


def _gray(value=200):
    from PIL import Image

    return Image.new("RGB", (80, 60), (value, value, value))


def test_default_is_imagenet_and_says_it_is_assumed(tmp_path):
    spec = register_user_backbone(_export(tmp_path / "plain.onnx"))
    assert spec.normalization() == "ImageNet mean/std" and spec.input_size == 224
    assert "assumed" in spec.info["preprocessing"]


def test_metadata_props_state_size_and_tf_normalization(tmp_path):
    path = _export(tmp_path / "tf_style.onnx", {"fewlens.mean": "127,127,127", "fewlens.std": "128",
                                                "input_size": "96", "resize_size": "110"})
    spec = register_user_backbone(path)
    assert (spec.input_size, spec.resize_size) == (96, 110)
    assert spec.normalization() == "(p-127)/128"
    assert "from the model metadata" in spec.info["preprocessing"]
    emb = Embedder(spec.id, device="cpu").embed_images([_gray(200)])
    np.testing.assert_allclose(emb, [[(200 - 127) / 128] * 3], atol=1e-5)  # the model saw (p-127)/128


def test_arguments_override_metadata(tmp_path):
    path = _export(tmp_path / "m.onnx", {"mean": "0.5", "std": "0.5"})
    spec = register_user_backbone(path, mean="0,0,0", std=(1.0, 1.0, 1.0), input_size=48)
    assert spec.mean == (0.0, 0.0, 0.0) and spec.input_size == 48
    assert "mean, std, input_size from the arguments" in spec.info["preprocessing"]
    np.testing.assert_allclose(Embedder(spec.id, device="cpu").embed_images([_gray(255)]), [[1.0] * 3], atol=1e-5)


def test_bad_statements_are_one_line_errors(tmp_path):
    path = _export(tmp_path / "m.onnx")
    with pytest.raises(FewLensError, match="m.onnx: std must be"):
        register_user_backbone(path, std="0,1,2,3")
    with pytest.raises(FewLensError, match="m.onnx: mean must be"):
        register_user_backbone(path, mean="red")
    bad = _export(tmp_path / "badmeta.onnx", {"input_size": "big"})
    with pytest.raises(FewLensError, match="badmeta.onnx: metadata input_size"):
        register_user_backbone(bad)


def test_cli_flags_state_the_input(tmp_path, capsys):
    path = _export(tmp_path / "cli.onnx")
    assert main(["backbones", "--add", str(path), "--mean", "127", "--std", "128", "--input-size", "72",
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["normalization"] == "(p-127)/128" and row["input"].startswith("72x72")
    assert get_backbone(str(path.resolve())).input_size == 72
    # a built-in backbone knows its own preprocessing: the flags are refused, in one line
    assert main(["backbones", "--add", "mobilenet_v2_imagenet", "--mean", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "--mean" in err and "own preprocessing" in err and "Traceback" not in err


def test_eval_with_stated_input(tmp_path, data_dir, capsys):
    path = _export(tmp_path / "ev.onnx")
    assert main(["eval", "--dataset", str(data_dir / "clothing_mini"), "--backbone", str(path), "--mean", "0.5",
                 "--std", "0.25", "--input-size", "32", "--ways", "2", "--shots", "1", "--queries", "1",
                 "--episodes", "2", "--method", "protonet", "--json"]) == 0
    assert get_backbone(str(path.resolve())).std == (0.25, 0.25, 0.25)
