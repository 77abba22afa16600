"""Fitting a method on labeled rows of an embedding matrix: the policy every caller shares.

NumPy only.  The GUI's live refit (``core/live_model.py``), the Recognizer builder and the CLI
pick the unlabeled pool and the automatic "unknown" threshold the same way, from here.
"""

from __future__ import annotations

import numpy as np

from .methods import get_method

UNLABELED = -1

#: Transductive methods see at most this many unlabeled embeddings (an evenly spaced sample):
#: their refinement cost grows with the pool, and a few thousand images already pin down the
#: class clusters.
MAX_UNLABELED_POOL = 10_000

#: Leave-one-out refits for the automatic threshold use at most this many labeled images per
#: class (an evenly spaced subset): enough for a quantile, cheap to refit.
AUTO_THRESHOLD_PER_CLASS = 20


def pool_sample(n: int, cap: int = MAX_UNLABELED_POOL) -> np.ndarray:
    """Indices of at most ``cap`` evenly spaced items out of ``n``."""
    idx = np.arange(n)
    return idx if n <= cap else idx[np.linspace(0, n - 1, cap).astype(np.int64)]


def labeled_rows_per_class(labels: np.ndarray, usable: np.ndarray, cap: int) -> np.ndarray:
    """Usable labeled rows, at most ``cap`` per class (an evenly spaced subset), in class order."""
    rows = np.flatnonzero((labels != UNLABELED) & usable)
    picked = []
    for c in np.unique(labels[rows]):
        r = rows[labels[rows] == c]
        if len(r) > cap:
            r = r[np.linspace(0, len(r) - 1, cap).astype(np.int64)]
        picked.append(r)
    return np.concatenate(picked) if picked else rows


def fit_on_support(method_name: str, support: np.ndarray, labels: np.ndarray,
                   unlabeled: np.ndarray | None = None, method_kwargs: dict | None = None):
    """``method_name`` fitted on ``support`` (N, D) with ``labels``; ``unlabeled`` goes to methods
    that use a pool (sampled to at most MAX_UNLABELED_POOL)."""
    method = get_method(method_name, **(method_kwargs or {}))
    pool = None
    if getattr(method, "uses_unlabeled", False) and unlabeled is not None and len(unlabeled):
        pool = unlabeled[pool_sample(len(unlabeled))]
    return method.process_support_set(support, labels, unlabeled=pool)


def fit_rows(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray,
             method_kwargs: dict | None = None, confidence_factor: float = 1.0):
    """The method fitted on the labeled rows of a row-aligned matrix (labels: class ids, UNLABELED
    for the pool, which goes to methods that use one), or None when nothing is labeled yet.
    ``method_kwargs`` go to ``get_method`` (adapted features rescale softkmeans' output temperature:
    core.adaptation.adapted_method_kwargs); ``confidence_factor`` != 1 wraps it so its probabilities
    are the calibrated ones the gallery shows.  The gallery's live refit, Try it, the camera and the
    session's Recognizer all fit here."""
    n = len(labels)
    have = have[:n]
    support_rows = np.flatnonzero((labels != UNLABELED) & have)
    if len(support_rows) == 0:
        return None
    method = get_method(method_name, **(method_kwargs or {}))
    unlabeled = None
    if getattr(method, "uses_unlabeled", False):
        pool = np.flatnonzero((labels == UNLABELED) & have)
        pool = pool[pool_sample(len(pool))]
        unlabeled = emb[pool] if len(pool) else None
    method.process_support_set(emb[support_rows], labels[support_rows], unlabeled=unlabeled)
    if confidence_factor != 1.0:
        from .methods.calibration import Calibrated

        return Calibrated(method, confidence_factor)
    return method


def auto_unknown_threshold(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray) -> float | None:
    """The confidence below which a prediction is "unknown", from the labeled images alone.

    Each labeled image is held out in turn and predicted by the method fitted on the others
    (``core.methods.calibration.support_unknown_threshold``); an image the model is less sure
    about than ~90 % of those held-out examples is flagged.  Transductive methods are refitted
    without the unlabeled pool here, to keep this cheap.
    """
    from .methods.calibration import support_unknown_threshold

    rows = labeled_rows_per_class(labels, have[: len(labels)], AUTO_THRESHOLD_PER_CLASS)
    if len(rows) == 0:
        return None
    return support_unknown_threshold(lambda: get_method(method_name), emb[rows], labels[rows])


__all__ = ["AUTO_THRESHOLD_PER_CLASS", "MAX_UNLABELED_POOL", "UNLABELED", "auto_unknown_threshold", "fit_on_support",
           "fit_rows", "labeled_rows_per_class", "pool_sample"]
