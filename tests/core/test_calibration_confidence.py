"""Shown confidence calibrated per project, and the automatic "unknown" threshold as a target error rate.

Synthetic cases with a known answer: labels drawn from a known softmax, so the right temperature
factor is known; confidences that are their own chance of being right, so the error above a
threshold is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.methods import get_method
from core.methods.base import softmax
from core.methods.calibration import (
    Calibrated,
    calibrate_on_labels,
    expected_calibration_error,
    fit_factor,
    power_scale,
    threshold_for_error,
)


def sampled(n: int, c: int = 5, seed: int = 0):
    """Logits, and labels drawn from softmax(logits): the calibrated factor on these logits is 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, c))
    y = np.array([rng.choice(c, p=row) for row in softmax(z)])
    return z, y


def test_power_scale_is_temperature_scaling():
    z, _ = sampled(50)
    np.testing.assert_allclose(power_scale(softmax(z), 0.4), softmax(0.4 * z), atol=1e-9)
    np.testing.assert_allclose(power_scale(softmax(z), 1.0), softmax(z), atol=1e-12)


def test_fit_factor_recovers_a_known_overconfidence_and_respects_the_prior():
    z, y = sampled(4000)
    over = softmax(3.0 * z)  # a method three times too confident
    f = fit_factor(over, y)
    assert f == pytest.approx(1 / 3, rel=0.1)
    before = expected_calibration_error(over, y)
    after = expected_calibration_error(power_scale(over, f), y)
    assert after < 0.03 < before
    # few held-out images: pulled toward 1 (the shipped fit); none at all: exactly the prior
    few = fit_factor(over[:6], y[:6])
    assert f < few <= 1.5
    assert fit_factor(over[:0], y[:0]) == 1.0
    # a wide prior lets the same few images speak more
    assert abs(np.log(fit_factor(over[:40], y[:40], prior_log_sd=5.0)) - np.log(1 / 3)) < \
        abs(np.log(fit_factor(over[:40], y[:40], prior_log_sd=0.1)) - np.log(1 / 3))


def test_threshold_meets_its_target_error_on_calibrated_confidences():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.2, 1.0, 40_000)
    right = rng.random(conf.size) < conf  # each confidence is its chance of being right
    for target in (0.05, 0.1, 0.2):
        t = threshold_for_error(conf, target)
        kept = conf >= t
        err = 1 - right[kept].mean()
        assert err <= target + 0.01  # meets the target...
        assert err >= target - 0.01  # ...and flags no more than it must
        assert 0.2 < t < 1.0 and 0 < kept.mean() < 1
    assert threshold_for_error(np.full(10, 0.99), 0.1) == 0.0  # all good enough: none flagged
    assert threshold_for_error(np.full(10, 0.5), 0.1) == 1.0  # none good enough: all flagged
    assert threshold_for_error(np.zeros(0), 0.1) == 0.0


def world(seed: int, shots: int, classes: int = 4, per_class: int = 60, dim: int = 24):
    """Overlapping Gaussian classes: support, labels, the rest as unlabeled/queries with their truth."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (classes, dim))
    x = np.concatenate([m + rng.normal(0, 1.6, (per_class, dim)) for m in means]).astype(np.float32)
    y = np.repeat(np.arange(classes), per_class)
    sup = np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in range(classes)])
    rest = np.setdiff1d(np.arange(len(y)), sup)
    return x[sup], y[sup], x[rest], y[rest]


def test_leave_one_out_factor_corrects_an_overconfident_method():
    make = lambda: get_method("protonet", temperature=40.0)  # noqa: E731  far too sharp for this data
    eces, factors = {"before": [], "after": []}, []
    for seed in range(6):
        sx, sy, qx, qy = world(seed, shots=8)
        cal = calibrate_on_labels(make, sx, sy, unlabeled=qx)
        assert cal.n_heldout == len(sy)
        factors.append(cal.factor)
        p = make().process_support_set(sx, sy).predict_proba(qx)
        eces["before"].append(expected_calibration_error(p, qy))
        eces["after"].append(expected_calibration_error(power_scale(p, cal.factor), qy))
    assert max(factors) < 0.6  # the NLL-best factor on the queries is 0.24-0.36 here
    assert np.mean(eces["after"]) < 0.6 * np.mean(eces["before"])
    # one label per class: nothing to hold out, the shipped temperature stands
    sx, sy, qx, _ = world(0, shots=1)
    cal = calibrate_on_labels(make, sx, sy, unlabeled=qx)
    assert cal.factor == 1.0 and cal.n_heldout == 0


def test_calibrated_wrapper_scales_the_method_it_wraps():
    sx, sy, qx, _ = world(2, shots=3)
    m = get_method("softkmeans").process_support_set(sx, sy, unlabeled=qx)
    wrapped = Calibrated(m, 0.5)
    assert list(wrapped.classes_) == list(m.classes_)
    np.testing.assert_allclose(wrapped.predict_proba(qx), power_scale(m.predict_proba(qx), 0.5), atol=1e-6)
