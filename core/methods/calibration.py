"""Confidence that means what it says: temperature scaling, ECE, and an "unknown" threshold.

A few-shot method's softmax confidence depends on an arbitrary temperature;
with the wrong one, "90 %" is right 60 % of the time (or "40 %" is right 90 %
of the time).  Temperature scaling (Guo et al. 2017) fits one scalar that
minimizes the negative log-likelihood on held-out predictions; the bench fits
it on the selection classes and the method ships it as its default.

On top of that shipped fit, each project gets its own factor (``calibrate_on_labels``):
leave one labeled image out, refit, score it, and fit the temperature factor on those
held-out predictions, shrunk toward 1 by a prior so a few labels cannot swing it (one
label per class: nothing to hold out, the prior alone).  That is what fixes a far domain
(microscopy) where the photo-fitted temperature says "90 %" for a coin flip.

The automatic "unknown" threshold then has a stated meaning (``threshold_for_error``):
with calibrated confidences, the predictions at or above it are expected to be wrong at
most ``TARGET_ERROR`` of the time.  (``support_unknown_threshold``, the earlier rule, took
the 10th percentile of held-out confidences; it is kept for the before/after bench.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import FewShotMethod, softmax


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits * temperature)``."""
    z = np.asarray(logits, np.float64) * temperature
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 1e-2, hi: float = 1e2) -> float:
    """The multiplier ``t`` minimizing NLL of ``softmax(t * logits)`` (golden-section search on log t).

    NLL is convex in ``t`` for fixed logits, so the 1-D search finds the optimum.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    if logits.size == 0 or logits.shape[1] < 2:
        return 1.0
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence (fraction, 0..1), equal-width bins weighted by size."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    if probs.size == 0:
        return float("nan")
    top = probs.argmax(1)
    conf = probs[np.arange(len(top)), top]
    correct = (top == labels).astype(np.float64)
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(which):
        sel = which == b
        total += sel.sum() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total / len(conf))


def scaled_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64) * temperature)


def support_unknown_threshold(make: Callable[[], FewShotMethod], support: np.ndarray, labels,
                              unlabeled: np.ndarray | None = None, quantile: float = 0.1) -> float | None:
    """An "unknown" confidence threshold from the labeled images alone (leave-one-out).

    Each labeled image whose class keeps at least one other example is held
    out; a fresh method from ``make()`` is fitted on the rest and scores it.
    The threshold is the ``quantile`` of those held-out confidences: about
    that share of images like the labeled ones would be flagged.  ``None``
    when no class has two examples or there is only one class (nothing to hold out).
    """
    support = np.asarray(support, np.float32)
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        return None
    confs = []
    for i in range(len(labels)):
        if counts[classes == labels[i]][0] < 2:
            continue
        keep = np.arange(len(labels)) != i
        method = make().process_support_set(support[keep], labels[keep], unlabeled=unlabeled)
        probs = method.predict_proba(support[i : i + 1])[0]
        confs.append(float(probs[list(method.classes_).index(labels[i])]))
    if not confs:
        return None
    return float(np.quantile(confs, quantile))


# --------------------------------------------------------------------------- per-project calibration
# The shipped output temperature (e.g. softkmeans' T = 5 * shots ** 0.24) was fitted on photos; on a
# far domain (microscopy) the same "90 %" can be right half the time.  Each project therefore gets a
# factor on top of it, fitted on its own labels by leave-one-out, shrunk toward 1 (the shipped fit)
# by a log-normal prior so that a handful of held-out images cannot swing it far.

#: Spread of the prior on log(factor): 1 sd is a factor of exp(0.7) ~ 2 either way (0.5 and 1.0 measured
#: in bench/bench_calibration.py: wider helps the far domain, the same on photos; tiny label sets argue
#: for restraint).
PRIOR_LOG_SD = 0.7
#: The automatic unknown threshold keeps the predictions expected to be wrong at most this often.
TARGET_ERROR = 0.20
#: Leave-one-out holds out at most this many labeled images per class (evenly spaced), and at most
#: LOO_MAX_HELDOUT in all (at least 2 per class): refits are the cost, and the factor is one number.
LOO_PER_CLASS = 8
LOO_MAX_HELDOUT = 40


def power_scale(probs: np.ndarray, factor: float) -> np.ndarray:
    """``probs ** factor``, renormalized: temperature scaling of any method's softmax output.

    For ``probs = softmax(z)``, ``log probs = z - logsumexp(z)``, so this equals ``softmax(factor * z)``.
    """
    probs = np.asarray(probs, np.float64)
    if factor == 1.0 or probs.size == 0:
        return probs
    return softmax(factor * np.log(np.maximum(probs, 1e-300)))


def fit_factor(probs: np.ndarray, labels: np.ndarray, prior_log_sd: float = PRIOR_LOG_SD,
               lo: float = 0.05, hi: float = 20.0) -> float:
    """MAP temperature factor for held-out ``probs`` (n, C) with true column ``labels`` (n,).

    Minimizes ``sum_i NLL_i(f) + log(f)^2 / (2 sd^2)``: with no data it returns 1 (the prior),
    with many it approaches the plain NLL fit.  Convex in log f, so golden-section search finds it.
    """
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    if probs.ndim != 2 or probs.shape[1] < 2 or len(labels) == 0:
        return 1.0
    logp = np.log(np.maximum(probs, 1e-300))
    n = len(labels)

    def cost(log_f: float) -> float:
        return n * nll(logp, labels, float(np.exp(log_f))) + 0.5 * (log_f / prior_log_sd) ** 2

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = cost(c), cost(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = cost(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = cost(d)
    return float(np.exp((a + b) / 2))


def leave_one_out_probs(make: Callable[[], FewShotMethod], support: np.ndarray, labels,
                        unlabeled: np.ndarray | None = None, per_class: int | None = LOO_PER_CLASS,
                        cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out probabilities of labeled images: ``(probs (n, C), true column (n,))``.

    Columns follow ``np.unique(labels)``.  Only images whose class keeps another labeled example
    are held out (at most ``per_class`` per class, evenly spaced); each is scored by a fresh method
    from ``make()`` fitted on the other labeled images, with ``unlabeled`` plus the held-out image
    as its unlabeled pool (methods that use no pool ignore it).  ``cancel()`` true stops early
    (what was held out so far is returned).
    """
    support = np.asarray(support, np.float32)
    labels = np.asarray(labels)
    classes, y = np.unique(labels, return_inverse=True)
    rows = []
    for c in range(len(classes)):
        r = np.flatnonzero(y == c)
        if len(r) < 2:
            continue
        if per_class is not None and len(r) > per_class:
            r = r[np.linspace(0, len(r) - 1, per_class).astype(np.int64)]
        rows.extend(r.tolist())
    if len(classes) < 2 or not rows:
        return np.zeros((0, len(classes))), np.zeros(0, np.int64)
    out = np.zeros((len(rows), len(classes)))
    pool = np.zeros((0, support.shape[1]), np.float32) if unlabeled is None else np.asarray(unlabeled, np.float32)
    for k, i in enumerate(rows):
        if cancel is not None and cancel():
            return out[:k], y[np.asarray(rows[:k], np.int64)]
        keep = np.arange(len(labels)) != i
        # the held-out image joins the pool, as every unlabeled image of a project is in it: without
        # that, a transductive method's held-out confidence is far below what it shows on the project
        # (bench/bench_calibration.py; the factor fitted without it was ~1.4x too high on clothing17)
        method = make().process_support_set(support[keep], labels[keep],
                                            unlabeled=np.concatenate([pool, support[i : i + 1]]))
        # every class keeps an example, so the held-out model has the same columns
        out[k] = method.predict_proba(support[i : i + 1])[0]
    return out, y[np.asarray(rows)]


def threshold_for_error(confidence: np.ndarray, target: float = TARGET_ERROR) -> float:
    """The lowest confidence ``t`` such that predictions at or above it are expected to be wrong
    at most ``target`` of the time, reading each (calibrated) confidence as its chance of being right.

    0.0 when every prediction qualifies (nothing is flagged); 1.0 when not even the most confident
    one does (everything is flagged).
    """
    conf = np.sort(np.asarray(confidence, np.float64))[::-1]
    if conf.size == 0:
        return 0.0
    expected_error = np.cumsum(1.0 - conf) / np.arange(1, len(conf) + 1)
    ok = np.flatnonzero(expected_error <= target + 1e-12)
    if len(ok) == 0:
        return 1.0
    k = int(ok[-1])  # the largest set of most-confident predictions that meets the target
    return 0.0 if k == len(conf) - 1 else float(conf[k])


class Calibrated(FewShotMethod):
    """A fitted method whose probabilities are temperature-scaled by ``factor`` (see power_scale)."""

    def __init__(self, method: FewShotMethod, factor: float):
        super().__init__()
        self.method, self.factor = method, float(factor)
        self.name = method.name
        self.uses_unlabeled = method.uses_unlabeled
        self.classes_ = method.classes_

    def process_support_set(self, support, labels, unlabeled=None) -> "Calibrated":
        self.method.process_support_set(support, labels, unlabeled=unlabeled)
        self.classes_ = self.method.classes_
        return self

    fit = process_support_set

    def predict_proba(self, query: np.ndarray) -> np.ndarray:
        return power_scale(self.method.predict_proba(query), self.factor).astype(np.float32)


#: Leave-one-out refits see at most this many of the project's unlabeled images (evenly spaced).
LOO_POOL = 200


@dataclass
class ConfidenceCalibration:
    """How a project's shown confidence is scaled, and from what."""

    factor: float = 1.0  # multiplies the method's output temperature (1.0: the shipped fit, the prior)
    n_heldout: int = 0  # labeled images it was fitted on (0: prior only, e.g. one label per class)


def calibrate_on_labels(make: Callable[[], FewShotMethod], support: np.ndarray, labels,
                        unlabeled: np.ndarray | None = None, prior_log_sd: float = PRIOR_LOG_SD,
                        per_class: int | None = None, max_pool: int = LOO_POOL,
                        cancel: Callable[[], bool] | None = None) -> ConfidenceCalibration:
    """The temperature factor for this project: leave-one-out on its labels, shrunk toward 1.
    ``per_class`` None: LOO_PER_CLASS, fewer with many classes (LOO_MAX_HELDOUT in all, >= 2 each)."""
    if unlabeled is not None and len(unlabeled) > max_pool:
        unlabeled = unlabeled[np.linspace(0, len(unlabeled) - 1, max_pool).astype(np.int64)]
    if per_class is None:
        per_class = int(np.clip(LOO_MAX_HELDOUT // max(len(np.unique(labels)), 1), 2, LOO_PER_CLASS))
    probs, y = leave_one_out_probs(make, support, labels, unlabeled, per_class, cancel)
    return ConfidenceCalibration(fit_factor(probs, y, prior_log_sd), len(y))
