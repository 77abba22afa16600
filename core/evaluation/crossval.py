"""Cross-validated predictions on a project's labeled images: how often is the model right?

Each labeled image is held out (leave-one-out, or one fold of a repeated stratified split on
big projects), the method is refitted on the other labels exactly as the app fits it, and the
held-out image is scored.  A held-out image becomes unlabeled for that fit, so a transductive
method sees it in its pool, as it would see any unlabeled photo of the project.

What is approximated: the features are fixed for all folds.  When the app predicts with a
backbone adapted to the labels, refitting the adaptation per fold costs ~18 s each on a CPU,
so the estimate is computed on the frozen features (the caller says which were used).
A class with a single label cannot be held out (its only example would vanish): such images
are not scored, and ``n_scored`` says how many were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Up to this many labeled images, leave-one-out (n refits); above, repeated stratified folds.
LOO_MAX = 200
FOLDS = 5

MethodFactory = Callable[[], object]


@dataclass
class CrossValResult:
    """Held-out predictions for the labeled images (rows index the ``labels`` given)."""

    classes: np.ndarray  # (C,) label values, column order of probs
    labels: np.ndarray  # (n,) the given labels
    scored: np.ndarray  # (n,) bool: the image was held out and scored
    probs: np.ndarray  # (n, C) held-out probabilities (0 rows where not scored)
    folds: str  # "leave-one-out" or "5-fold"

    @property
    def n_scored(self) -> int:
        return int(self.scored.sum())

    @property
    def true_col(self) -> np.ndarray:
        return np.searchsorted(self.classes, self.labels)

    @property
    def predicted(self) -> np.ndarray:
        """(n,) predicted label value (meaningless where not scored)."""
        return self.classes[self.probs.argmax(1)] if len(self.classes) else self.labels

    @property
    def correct(self) -> np.ndarray:
        return (self.predicted == self.labels) & self.scored

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(1) if self.probs.size else np.zeros(len(self.labels))

    @property
    def true_prob(self) -> np.ndarray:
        """Held-out probability the model gave the image's own label."""
        if not len(self.labels):
            return np.zeros(0)
        return self.probs[np.arange(len(self.labels)), self.true_col]

    @property
    def accuracy(self) -> float:
        """Fraction of scored images predicted right (nan when nothing could be scored)."""
        n = self.n_scored
        return float(self.correct.sum() / n) if n else float("nan")

    @property
    def ci95(self) -> float:
        """Half-width of a 95 % interval on the accuracy (normal approximation, binomial)."""
        n, p = self.n_scored, self.accuracy
        if not n:
            return float("nan")
        # never claim less than what a single image changes: 0/n or n/n still carries doubt
        return float(1.96 * np.sqrt(max(p * (1 - p), 1.0 / (4 * n)) / n))

    def nll(self) -> float:
        p = np.clip(self.true_prob[self.scored], 1e-9, 1.0)
        return float(-np.log(p).mean()) if len(p) else float("nan")


def fold_assignment(labels: np.ndarray, folds: int | None = None, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """Groups of held-out rows.  ``folds=None``: leave-one-out up to LOO_MAX labels, else
    FOLDS-fold stratified (each class spread over the folds).  Rows of single-label classes are
    never held out."""
    labels = np.asarray(labels)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    holdable = counts[inverse] >= 2
    rows = np.flatnonzero(holdable)
    if folds is None and len(labels) <= LOO_MAX:
        return [rows[i : i + 1] for i in range(len(rows))], "leave-one-out"
    k = folds or FOLDS
    rng = np.random.default_rng(seed)
    which = np.full(len(labels), -1)
    for c in range(len(classes)):
        r = rng.permutation(np.flatnonzero((inverse == c) & holdable))
        # one label per class stays in every training split as long as the class has >= 2
        which[r] = (np.arange(len(r)) + rng.integers(k)) % min(k, max(len(r), 1))
    return [np.flatnonzero(which == f) for f in range(k) if (which == f).any()], f"{k}-fold"


def cross_validate(make: MethodFactory, support: np.ndarray, labels, unlabeled: np.ndarray | None = None,
                   folds: int | None = None, seed: int = 0, cancel: Callable[[], bool] | None = None) -> CrossValResult:
    """Held-out probabilities of every labeled image under a fresh ``make()`` per fold.

    ``support`` (n, D) labeled embeddings, ``labels`` (n,), ``unlabeled`` (m, D) the project's
    unlabeled pool (given to methods with ``uses_unlabeled``, plus the held-out images).
    """
    from ..errors import Cancelled

    support = np.asarray(support, np.float32)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    n = len(labels)
    probs = np.zeros((n, len(classes)), np.float32)
    scored = np.zeros(n, bool)
    groups, how = fold_assignment(labels, folds, seed)
    context = None
    for held in groups:
        if cancel is not None and cancel():
            raise Cancelled()
        keep = np.ones(n, bool)
        keep[held] = False
        method = make()
        if hasattr(method, "fold_context"):
            # a transductive method shares its pool sample and feature transform across folds:
            # a 10,000-image pool is then sampled and transformed once, not once per label
            if context is None:
                context = method.fold_context(support, unlabeled, max(len(g) for g in groups))
            method.fit_fold(context, labels, keep, held)
        else:
            pool = None
            if getattr(method, "uses_unlabeled", False):
                pool = support[held] if unlabeled is None or not len(unlabeled) else np.concatenate([unlabeled, support[held]])
            method.process_support_set(support[keep], labels[keep], unlabeled=pool)
        p = np.asarray(method.predict_proba(support[held]), np.float32)
        cols = np.searchsorted(classes, np.asarray(method.classes_))
        probs[np.ix_(held, cols)] = p
        scored[held] = True
    return CrossValResult(classes, labels, scored, probs, how)


__all__ = ["CrossValResult", "FOLDS", "LOO_MAX", "cross_validate", "fold_assignment"]
