"""One project's evaluation: the estimate, per-class table, confusion matrix, reliability,
possible mislabels and the model choice, from the row-aligned arrays the app keeps.

    ev = evaluate_labels(emb, have, labels, method="auto")
    ev.headline()       # "Estimated accuracy 84 % ± 6, from 25 labels"

``labels`` (N,) hold class ids or -1 (unlabeled); the unlabeled rows are the pool, sampled to
at most MAX_POOL images like the app's live refit (core/live_model.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .choice import ModelChoice, choose_model
from .crossval import CrossValResult, cross_validate
from .metrics import ClassStats, Mislabel, ReliabilityBins, class_stats, confusion_matrix, possible_mislabels, reliability

UNLABELED = -1
MAX_POOL = 10_000


@dataclass
class ProjectEvaluation:
    method: str  # the method evaluated (the chosen one when the project uses "auto")
    rows: np.ndarray  # (n,) project rows of the labeled images evaluated, cv index order
    cv: CrossValResult
    choice: ModelChoice | None  # set when the project's method is "auto"
    stats: list[ClassStats]
    confusion: np.ndarray
    bins: ReliabilityBins
    mislabels: list[Mislabel]
    features: str = "pretrained"  # which features the estimate used

    @property
    def accuracy(self) -> float:
        return self.cv.accuracy

    @property
    def ci95(self) -> float:
        return self.cv.ci95

    @property
    def n_labels(self) -> int:
        return len(self.rows)

    def headline(self) -> str:
        if self.cv.n_scored == 0:
            return f"Accuracy estimate needs 2 labels in a class ({self.n_labels} labels so far)"
        return (f"Estimated accuracy {100 * self.accuracy:.0f} % ± {100 * self.ci95:.0f}, "
                f"from {self.n_labels} labels")

    def cell_rows(self, true_class, predicted_class) -> np.ndarray:
        """Project rows of the labeled images of class ``true_class`` predicted (held out) as
        ``predicted_class``: what a confusion-matrix cell shows."""
        from .metrics import confusion_rows

        return self.rows[confusion_rows(self.cv, true_class, predicted_class)]

    def to_dict(self, class_names: dict | None = None) -> dict:
        name = (lambda c: class_names.get(c, str(c))) if class_names else str
        classes = [name(c.item() if hasattr(c, "item") else c) for c in self.cv.classes]
        nan = lambda v: None if v != v else round(float(v), 4)  # noqa: E731
        out = {
            "method": self.method,
            "features": self.features,
            "labels": self.n_labels,
            "scored": self.cv.n_scored,
            "folds": self.cv.folds,
            "accuracy": nan(self.accuracy),
            "ci95": nan(self.ci95),
            "headline": self.headline(),
            "classes": [{"name": name(s.label), "labeled": s.labeled, "scored": s.scored, "correct": s.correct,
                         "accuracy": nan(s.recall), "precision": nan(s.precision), "recall": nan(s.recall)}
                        for s in self.stats],
            "confusion": {"classes": classes, "rows_true_columns_predicted": self.confusion.tolist()},
            "reliability": {"edges": [round(float(e), 3) for e in self.bins.edges], "count": self.bins.count.tolist(),
                            "confidence": [nan(v) for v in self.bins.confidence],
                            "accuracy": [nan(v) for v in self.bins.accuracy], "ece": nan(self.bins.ece)},
            "possible_mislabels": [{"row": int(self.rows[m.index]), "label": name(m.label), "predicted": name(m.predicted),
                                    "label_prob": round(m.label_prob, 4)} for m in self.mislabels],
        }
        if self.choice is not None:
            out["choice"] = {"method": self.choice.method, "message": self.choice.message(),
                             "scores": {k: nan(v) for k, v in self.choice.scores.items()},
                             "temperature_power": round(self.choice.temperature_power, 4),
                             "unknown_threshold": nan(self.choice.threshold) if self.choice.threshold is not None else None}
        return out


def pool_of(emb: np.ndarray, have: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    pool = np.flatnonzero((labels == UNLABELED) & have)
    if len(pool) > MAX_POOL:
        pool = pool[np.linspace(0, len(pool) - 1, MAX_POOL).astype(np.int64)]
    return emb[pool] if len(pool) else None


def evaluate_labels(emb: np.ndarray, have: np.ndarray, labels: np.ndarray, method: str = "auto",
                    method_kwargs: dict | None = None, folds: int | None = None, features: str = "pretrained",
                    cancel: Callable[[], bool] | None = None) -> ProjectEvaluation:
    """Cross-validate ``method`` on the labeled rows of a project (see the module docstring)."""
    from ..methods import get_method

    emb = np.asarray(emb, np.float32)
    labels = np.asarray(labels, np.int64)
    have = np.asarray(have, bool)[: len(labels)]
    rows = np.flatnonzero((labels != UNLABELED) & have)
    support, y = emb[rows], labels[rows]
    pool = pool_of(emb, have, labels)
    choice = None
    if method == "auto":
        from ..methods.auto import AUTO_LOO_MAX

        if folds is None and len(y) > AUTO_LOO_MAX:
            folds = 5  # the folds the live ``auto`` fit uses, so both make the same choice
        choice = choose_model(support, y, pool, folds=folds, cancel=cancel,
                              method_kwargs={"softkmeans": dict(method_kwargs)} if method_kwargs else None)
        cv = choice.cv[choice.method]
        if choice.temperature_power != 1.0:
            from .choice import apply_power

            cv = CrossValResult(cv.classes, cv.labels, cv.scored, apply_power(cv.probs, choice.temperature_power), cv.folds)
        name = choice.method
    else:
        kw = dict(method_kwargs or {})
        cv = cross_validate(lambda: get_method(method, **kw), support, y, pool, folds=folds, cancel=cancel)
        name = method
    return ProjectEvaluation(name, rows, cv, choice, class_stats(cv), confusion_matrix(cv), reliability(cv),
                             possible_mislabels(cv), features)


__all__ = ["ProjectEvaluation", "evaluate_labels", "pool_of"]
