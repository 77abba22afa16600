"""Unit tests of the accuracy work: feature transform, soft k-means refinement, calibration.

Synthetic tasks that look like frozen CNN features: non-negative, a large
component shared by every image, class signal on top, noisy; the project's
pool holds unlabeled images of the labeled classes plus distractor classes.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.methods import METHODS, get_method
from core.methods.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    scaled_probs,
    support_unknown_threshold,
)
from core.methods.features import FeatureTransform, power_transform

D = 64


def make_world(seed: int, n_classes: int = 10, shared: float = 3.0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    common = rng.uniform(0.5, 1.0, D) * shared
    means = common + rng.uniform(0.0, 1.0, (n_classes, D)) * spread

    def draw(c: int, n: int) -> np.ndarray:
        return np.maximum(means[c] + rng.normal(0.0, 0.9, (n, D)), 0).astype(np.float32)

    return rng, draw


def episode(seed: int, ways: int = 5, shots: int = 1, queries: int = 15, pool: int = 20, distractors: bool = True):
    rng, draw = make_world(seed)
    classes = rng.choice(10, ways + (3 if distractors else 0), replace=False)
    ep, other = classes[:ways], classes[ways:]
    sx = np.concatenate([draw(c, shots) for c in ep])
    sy = np.repeat(np.arange(ways), shots)
    qx = np.concatenate([draw(c, queries) for c in ep])
    qy = np.repeat(np.arange(ways), queries)
    parts = [draw(c, pool) for c in ep] + ([draw(c, pool * ways // len(other)) for c in other] if distractors else [])
    ux = np.concatenate(parts) if pool else np.zeros((0, D), np.float32)
    return sx, sy, qx, qy, ux


def accuracy(method, sx, sy, qx, qy, ux) -> float:
    method.process_support_set(sx, sy, unlabeled=ux if method.uses_unlabeled else None)
    return float((method.predict(qx).top == qy).mean())


def test_softkmeans_is_registered_and_uses_the_pool():
    assert "softkmeans" in METHODS
    m = get_method("softkmeans")
    assert m.uses_unlabeled is True


@pytest.mark.parametrize("shots", [1, 5])
def test_refinement_with_pool_beats_plain_protonet(shots):
    # the pool includes distractor classes, as a real project folder does
    plain, refined = [], []
    for seed in range(25):
        task = episode(seed, shots=shots)
        plain.append(accuracy(get_method("protonet"), *task))
        refined.append(accuracy(get_method("softkmeans"), *task))
    assert np.mean(refined) > np.mean(plain) + 0.03, (np.mean(plain), np.mean(refined))


def test_pool_refinement_beats_no_pool_and_reject_column_limits_distractor_damage():
    no_pool, with_pool, no_reject = [], [], []
    for seed in range(25):
        sx, sy, qx, qy, ux = episode(100 + seed, shots=1, pool=20)
        no_pool.append(accuracy(get_method("softkmeans"), sx, sy, qx, qy, None))
        with_pool.append(accuracy(get_method("softkmeans"), sx, sy, qx, qy, ux))
        no_reject.append(accuracy(get_method("softkmeans", reject=None, iterations=10, unlabeled_weight=1.0),
                                  sx, sy, qx, qy, ux))
    assert np.mean(with_pool) > np.mean(no_pool)
    assert np.mean(with_pool) >= np.mean(no_reject) - 0.01


def test_deterministic_and_order_of_calls_does_not_matter():
    sx, sy, qx, qy, ux = episode(7, shots=2)
    a = get_method("softkmeans").process_support_set(sx, sy, unlabeled=ux).predict_proba(qx)
    m = get_method("softkmeans")
    m.process_support_set(sx[::-1], sy[::-1], unlabeled=None)  # an earlier fit leaves nothing behind
    b = m.process_support_set(sx, sy, unlabeled=ux).predict_proba(qx)
    np.testing.assert_array_equal(a, b)


def test_large_pool_is_subsampled_deterministically():
    sx, sy, qx, qy, _ = episode(3)
    rng, draw = make_world(3)
    big = np.concatenate([draw(c, 600) for c in range(10)])
    m1 = get_method("softkmeans", max_unlabeled=500).process_support_set(sx, sy, unlabeled=big)
    m2 = get_method("softkmeans", max_unlabeled=500).process_support_set(sx, sy, unlabeled=big.copy())
    np.testing.assert_array_equal(m1.prototypes_, m2.prototypes_)
    plain = get_method("protonet").process_support_set(sx, sy)
    assert (m1.predict(qx).top == qy).mean() >= (plain.predict(qx).top == qy).mean()


@pytest.mark.parametrize("pool", [None, "empty"])
def test_one_class_one_shot_and_no_pool(pool):
    sx, _, qx, _, _ = episode(5, ways=1, shots=1, distractors=False)
    unl = None if pool is None else np.zeros((0, D), np.float32)
    m = get_method("softkmeans").process_support_set(sx, ["hat"], unlabeled=unl)
    pred = m.predict(qx, threshold=0.5)
    assert list(pred.classes) == ["hat"]
    np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-5)
    assert np.isfinite(pred.probs).all()
    assert (pred.top == "hat").all()


def test_two_classes_one_shot_without_pool_is_sensible():
    # centering on the support mean alone (no pool yet) must not break a 2-class, 1-shot task
    hits, plain_hits = [], []
    for seed in range(30):
        sx, sy, qx, qy, _ = episode(11 + seed, ways=2, shots=1, pool=0, distractors=False)
        names = np.array(["a", "b"])
        pred = get_method("softkmeans").process_support_set(sx, names[sy], unlabeled=None).predict(qx)
        assert np.isfinite(pred.probs).all()
        hits.append((pred.top == names[qy]).mean())
        plain_hits.append((get_method("protonet").process_support_set(sx, names[sy]).predict(qx).top == names[qy]).mean())
    assert np.mean(hits) > 0.6
    assert np.mean(hits) >= np.mean(plain_hits) - 0.05


def test_string_labels_column_order_and_predictions():
    sx, sy, qx, qy, ux = episode(13, ways=3, shots=3)
    names = np.array(["shoes", "hat", "pants"])
    m = get_method("softkmeans").process_support_set(sx, names[sy], unlabeled=ux)
    assert list(m.classes_) == sorted(names)
    pred = m.predict(qx)
    assert (pred.top == names[qy]).mean() > 0.7
    np.testing.assert_allclose(pred.confidence, pred.probs.max(1))


def test_feature_transform_centers_on_pool_and_normalizes():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 2, (10, D)).astype(np.float32)
    pool = rng.uniform(1, 2, (50, D)).astype(np.float32)
    t = FeatureTransform(beta=0.5, center="pool").fit(x, pool)
    z = t(pool)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    # the pool's mean direction is removed: pooled transformed vectors nearly cancel out
    assert np.linalg.norm(z.mean(0)) < 0.2
    t_support = FeatureTransform(center="pool").fit(x, None)  # no pool yet: the labeled images alone
    np.testing.assert_allclose(t_support.mean_, FeatureTransform(center="support").fit(x).mean_)
    np.testing.assert_allclose(power_transform(np.array([4.0, -9.0], np.float32), 0.5), [2.0, -3.0], rtol=1e-4)
    with pytest.raises(ValueError):
        FeatureTransform(center="median")


def test_temperature_fit_lowers_ece_of_overconfident_scores():
    rng = np.random.default_rng(1)
    n, c = 3000, 5
    labels = rng.integers(0, c, n)
    true_logits = rng.normal(0, 1, (n, c))
    true_logits[np.arange(n), labels] += 1.0
    # sample "observed" labels from the true model so the true temperature is 1, then overscale the logits
    p = scaled_probs(true_logits, 1.0)
    observed = np.array([rng.choice(c, p=row) for row in p])
    over = true_logits * 4.0
    t = fit_temperature(over, observed)
    assert 0.15 < t < 0.4  # about 1/4
    before = expected_calibration_error(scaled_probs(over, 1.0), observed)
    after = expected_calibration_error(scaled_probs(over, t), observed)
    assert after < before / 2
    assert nll(over, observed, t) < nll(over, observed, 1.0)


def test_support_unknown_threshold():
    sx, sy, qx, qy, ux = episode(17, ways=3, shots=4)
    make = lambda: get_method("softkmeans")  # noqa: E731
    thr = support_unknown_threshold(make, sx, sy, unlabeled=ux)
    assert thr is not None and 0.0 < thr < 1.0
    # 1-shot: nothing can be held out
    assert support_unknown_threshold(make, sx[::4], sy[::4]) is None
    assert support_unknown_threshold(make, sx[:4], np.zeros(4, int)) is None


def test_fast_similarity_matches_the_explicit_transform():
    rng = np.random.default_rng(2)
    x = np.maximum(rng.normal(1, 1, (40, D)), 0).astype(np.float32)
    pool = np.maximum(rng.normal(1, 1, (100, D)), 0).astype(np.float32)
    dirs = rng.normal(0, 1, (4, D)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for beta in (0.5, 1.0, 0.7):
        t = FeatureTransform(beta=beta).fit(x[:5], pool)
        np.testing.assert_allclose(t.similarity(x, dirs), t(x) @ dirs.T, atol=2e-5)
        signed = x - 1.0  # negative values
        np.testing.assert_allclose(t.similarity(signed, dirs), t(signed) @ dirs.T, atol=2e-5)


def test_tiny_pool_does_not_break_predictions():
    # `fewlens predict` passes just the handful of query images as the pool
    task_hits, plain_hits = [], []
    for seed in range(20):
        sx, sy, qx, qy, _ = episode(200 + seed, ways=3, shots=2, queries=1, pool=0, distractors=False)
        m = get_method("softkmeans").process_support_set(sx, sy, unlabeled=qx[:1])
        task_hits.append((m.predict(qx).top == qy).mean())
        plain_hits.append((get_method("protonet").process_support_set(sx, sy).predict(qx).top == qy).mean())
    assert np.mean(task_hits) >= np.mean(plain_hits) - 0.05


def test_output_temperature_grows_with_labels_and_can_be_fixed():
    sx, sy, qx, qy, ux = episode(23, ways=3, shots=5)
    one = get_method("softkmeans").process_support_set(sx[::5], sy[::5], unlabeled=ux)
    five = get_method("softkmeans").process_support_set(sx, sy, unlabeled=ux)
    assert one.temperature_ < five.temperature_
    fixed = get_method("softkmeans", temperature=10.0).process_support_set(sx, sy, unlabeled=ux)
    assert fixed.temperature_ == 10.0
    # temperature changes confidence, never the ranking
    np.testing.assert_array_equal(fixed.predict(qx).top, five.predict(qx).top)


def test_optional_rebalancing_is_off_by_default_and_does_not_hurt_imbalanced_pools():
    # rebalance=0 is the shipped behaviour; the optional rounds must not force equal class sizes
    assert get_method("softkmeans").rebalance == 0
    base, bal = [], []
    for seed in range(20):
        sx, sy, qx, qy, _ = episode(300 + seed, shots=2, pool=0)
        rng, draw = make_world(300 + seed)
        # a strongly imbalanced pool: class sizes 40, 20, 10, 5, 2 (same world as the episode)
        classes = rng.choice(10, 5, replace=False)
        ux = np.concatenate([qx] + [draw(c, n) for c, n in zip(classes, [40, 20, 10, 5, 2])])
        base.append(accuracy(get_method("softkmeans"), sx, sy, qx, qy, ux))
        bal.append(accuracy(get_method("softkmeans", rebalance=3), sx, sy, qx, qy, ux))
    assert np.mean(bal) >= np.mean(base) - 0.03, (np.mean(base), np.mean(bal))
    m = get_method("softkmeans", rebalance=3).process_support_set(sx, sy, unlabeled=ux)
    assert np.isfinite(m.prototypes_).all()
