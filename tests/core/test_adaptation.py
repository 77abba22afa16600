"""Adapting the backbone's last stage to the labeled images (core.adaptation) and its CLI switch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.adaptation import (MIN_SHOTS, AdaptationSettings, adapt_backbone, augmented_views, can_adapt,
                             should_adapt)
from core.backbones import get_backbone
from core.cli import main
from core.errors import Cancelled, FewLensError
from core.images import load_image
from core.methods.base import l2_normalize

BACKBONE = "mobilenet_v2_imagenet"
FAST = AdaptationSettings(steps=6, views=2)


@pytest.fixture(scope="module")
def mini(data_dir):
    """{class: [PIL images]} of the clothing fixture (6 photos each of Hat, Pants, Shoes)."""
    root = data_dir / "clothing_mini"
    return {d.name: [load_image(p, min_side=256) for p in sorted(d.glob("*.jpg"))]
            for d in sorted(root.iterdir()) if d.is_dir()}


def _support(mini, per_class=5):
    images, labels = [], []
    for name, imgs in mini.items():
        images += imgs[:per_class]
        labels += [name] * per_class
    return images, labels


def test_which_backbones_and_label_counts_adapt():
    assert can_adapt("mobilenet_v2_imagenet") and can_adapt("mobilenet_v2_inat_insects")
    assert not can_adapt("mobilenet_v1_imagenet")  # the recipe is written for MobileNetV2's last stage
    assert not can_adapt("no_such_backbone")
    enough = ["a"] * MIN_SHOTS + ["b"] * MIN_SHOTS
    assert should_adapt(enough, BACKBONE)
    assert not should_adapt(enough[:-1], BACKBONE)  # one class one label short
    assert not should_adapt(["a"] * 10, BACKBONE)  # nothing to tell apart
    assert not should_adapt(enough, "mobilenet_v1_imagenet")


def test_augmented_views_are_distinct_normalized_crops(mini):
    spec = get_backbone(BACKBONE)
    views = augmented_views(mini["Hat"][0], 4, np.random.default_rng(0), spec)
    assert views.shape == (4, 3, 224, 224) and views.dtype == np.float32
    assert views.min() >= -1.0 and views.max() <= 1.0  # (p - 128) / 128
    assert not np.allclose(views[0], views[1])


def test_zero_steps_gives_back_the_pretrained_embedding(mini):
    from core.embedder import Embedder

    images, labels = _support(mini, 2)
    adapted = adapt_backbone(BACKBONE, images, labels, settings=AdaptationSettings(steps=0, views=1))
    ours = adapted.embed_images(images)
    ref = Embedder(BACKBONE, engine="torch").embed_images(images)
    assert np.abs(ours - ref).max() < 1e-4


def test_adaptation_fits_the_labels_and_changes_the_features(mini):
    images, labels = _support(mini)
    adapted = adapt_backbone(BACKBONE, images, labels, settings=FAST)
    assert len(adapted.history) == FAST.steps and adapted.history[-1] < adapted.history[0]
    again = adapt_backbone(BACKBONE, images, labels, settings=FAST)
    assert again.fingerprint == adapted.fingerprint  # seeded: the same labels give the same network
    frozen = adapt_backbone(BACKBONE, images, labels, settings=AdaptationSettings(steps=0, views=1))
    assert frozen.fingerprint != adapted.fingerprint
    # the held-out sixth photo of each class lands nearest its own class mean
    held = [imgs[5] for imgs in mini.values()]
    f_sup, f_held = l2_normalize(adapted.embed_images(images)), l2_normalize(adapted.embed_images(held))
    names = list(mini)
    means = np.stack([f_sup[[i for i, lab in enumerate(labels) if lab == n]].mean(0) for n in names])
    assert [names[i] for i in (f_held @ means.T).argmax(1)] == names


def test_cpu_embedding_runs_on_onnxruntime_and_matches_torch(mini):
    import torch

    from core.preprocess import preprocess_batch

    images, labels = _support(mini, 2)
    adapted = adapt_backbone(BACKBONE, images, labels, settings=AdaptationSettings(steps=2, views=1))
    assert adapted.session is not None  # re-embedding a project on the CPU: ~4x faster than torch eager
    x = preprocess_batch(images, adapted.spec)
    with torch.no_grad():
        ref = adapted.model(torch.from_numpy(x)).numpy()
    got = adapted.embed_batch(x)
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()


def test_progress_and_cancel(mini):
    images, labels = _support(mini, 5)
    seen = []
    adapt_backbone(BACKBONE, images, labels, settings=FAST, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(images) + FAST.steps, len(images) + FAST.steps)
    calls = []
    with pytest.raises(Cancelled):
        adapt_backbone(BACKBONE, images, labels, settings=FAST,
                       progress=lambda d, t: calls.append(d), cancel=lambda: len(calls) >= 3)
    assert len(calls) == 3


def test_adapted_features_get_a_cooler_softkmeans_output():
    """Adapted features are more confident than the frozen ones softkmeans' temperature was fitted on:
    on them it runs at 0.9x the temperature, same predictions, softer probabilities."""
    from core.adaptation import ADAPTED_TEMPERATURE_SCALE, adapted_method_kwargs
    from core.methods import get_method

    assert adapted_method_kwargs("softkmeans") == {"temperature_scale": ADAPTED_TEMPERATURE_SCALE} and 0 < \
        ADAPTED_TEMPERATURE_SCALE < 1
    assert adapted_method_kwargs("protonet") == {}
    rng = np.random.default_rng(0)
    x, q = rng.normal(size=(10, 16)).astype(np.float32), rng.normal(size=(20, 16)).astype(np.float32)
    y = np.repeat([0, 1], 5)
    plain, cooler = get_method("softkmeans"), get_method("softkmeans", **adapted_method_kwargs("softkmeans"))
    p1 = plain.process_support_set(x, y, unlabeled=q).predict_proba(q)
    p2 = cooler.process_support_set(x, y, unlabeled=q).predict_proba(q)
    assert cooler.temperature_ == pytest.approx(ADAPTED_TEMPERATURE_SCALE * plain.temperature_)
    assert (p1.argmax(1) == p2.argmax(1)).all() and p2.max(1).mean() < p1.max(1).mean()


def test_bad_requests_say_what_is_wrong(mini):
    images, labels = _support(mini, 2)
    with pytest.raises(FewLensError, match="mobilenet_v1_imagenet"):
        adapt_backbone("mobilenet_v1_imagenet", images, labels)
    with pytest.raises(ValueError, match="one label per image"):
        adapt_backbone(BACKBONE, images, labels[:-1])
    with pytest.raises(ValueError, match="two classes"):
        adapt_backbone(BACKBONE, images[:2], ["Hat", "Hat"])


@pytest.fixture
def five_shot(tmp_path, data_dir) -> tuple[Path, list[Path]]:
    """SUPPORT/<class>/ with 5 photos each, and the sixth photo of each class as queries."""
    root = tmp_path / "support"
    queries = []
    for d in sorted((data_dir / "clothing_mini").iterdir()):
        if not d.is_dir():
            continue
        files = sorted(d.glob("*.jpg"))
        (root / d.name).mkdir(parents=True)
        for f in files[:5]:
            shutil.copy(f, root / d.name / f.name)
        queries.append(files[5])
    return root, queries


def test_predict_adapts_with_five_labels_per_class(five_shot, capsys):
    support, queries = five_shot
    assert main(["predict", "--support", str(support), "--images", *map(str, queries), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["adapted"] is True  # auto: every class has 5 labels
    got = [r["prediction"] for r in doc["predictions"]]
    assert got == [q.parent.name for q in queries]
    assert main(["predict", "--support", str(support), "--images", *map(str, queries), "--format", "json",
                 "--adapt", "off"]) == 0
    assert json.loads(capsys.readouterr().out)["adapted"] is False


def test_predict_adapt_on_with_a_backbone_that_cannot_adapt_is_an_error(five_shot, capsys):
    support, queries = five_shot
    assert main(["predict", "--support", str(support), "--images", str(queries[0]), "--adapt", "on",
                 "--backbone", "mobilenet_v1_imagenet"]) == 1
    assert "cannot be adapted" in capsys.readouterr().err


def test_eval_adapts_per_episode_only_from_five_shots(data_dir, capsys):
    args = ["eval", "--dataset", str(data_dir / "clothing_mini"), "--ways", "3", "--queries", "1",
            "--episodes", "2", "--json"]
    assert main([*args, "--shots", "5"]) == 0
    five = json.loads(capsys.readouterr().out)
    assert five["adapted"] is True and 0 <= five["accuracy_pct"] <= 100
    assert main([*args, "--shots", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["adapted"] is False
