"""Confidence that means what it says: temperature scaling, ECE, and an "unknown" threshold.

A few-shot method's softmax confidence depends on an arbitrary temperature;
with the wrong one, "90 %" is right 60 % of the time (or "40 %" is right 90 %
of the time).  Temperature scaling (Guo et al. 2017) fits one scalar that
minimizes the negative log-likelihood on held-out predictions; the bench fits
it on the selection classes and the method ships it as its default.

The "unknown" threshold is chosen from the support set alone: leave one
labeled image out, refit, and see how confident the method is about that
image's true class.  Images the method is less sure about than (almost) any
held-out labeled image are flagged unknown.
"""

from __future__ import annotations

from collections.abc import Callable

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
