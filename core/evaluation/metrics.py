"""What the held-out predictions say: per-class table, confusion matrix, reliability, mislabels.

All functions take a :class:`~core.evaluation.crossval.CrossValResult` and return plain
dataclasses / arrays, so the CLI prints them, the GUI draws them and tests compare them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crossval import CrossValResult


@dataclass
class ClassStats:
    label: object  # class value (a project class id)
    labeled: int  # labeled images of the class
    scored: int  # of those, held out and scored
    correct: int
    predicted_as: int  # scored images (of any class) predicted as this class
    precision: float  # nan when nothing was predicted as it
    recall: float  # = per-class accuracy; nan when none could be scored


def confusion_matrix(cv: CrossValResult) -> np.ndarray:
    """(C, C) counts: row = the label given, column = the held-out prediction (scored images)."""
    c = len(cv.classes)
    m = np.zeros((c, c), np.int64)
    s = cv.scored
    if c and s.any():
        np.add.at(m, (cv.true_col[s], cv.probs[s].argmax(1)), 1)
    return m


def confusion_rows(cv: CrossValResult, true_label, predicted_label) -> np.ndarray:
    """Indices (into the labeled images) of the scored images in one confusion-matrix cell."""
    if not len(cv.labels):
        return np.zeros(0, np.int64)
    return np.flatnonzero(cv.scored & (cv.labels == true_label) & (cv.predicted == predicted_label))


def class_stats(cv: CrossValResult) -> list[ClassStats]:
    m = confusion_matrix(cv)
    out = []
    for j, lab in enumerate(cv.classes):
        scored = int(m[j].sum())
        pred = int(m[:, j].sum())
        tp = int(m[j, j])
        out.append(ClassStats(
            label=lab.item() if hasattr(lab, "item") else lab,
            labeled=int((cv.labels == lab).sum()), scored=scored, correct=tp, predicted_as=pred,
            precision=tp / pred if pred else float("nan"), recall=tp / scored if scored else float("nan")))
    return out


@dataclass
class ReliabilityBins:
    edges: np.ndarray  # (B+1,) confidence bin edges
    count: np.ndarray  # (B,) scored images per bin
    confidence: np.ndarray  # (B,) mean confidence per bin (nan if empty)
    accuracy: np.ndarray  # (B,) fraction right per bin (nan if empty)

    @property
    def ece(self) -> float:
        """Expected calibration error (fraction): |accuracy - confidence| weighted by bin size."""
        n = self.count.sum()
        if not n:
            return float("nan")
        ok = self.count > 0
        return float((self.count[ok] * np.abs(self.accuracy[ok] - self.confidence[ok])).sum() / n)


def reliability(cv: CrossValResult, bins: int = 10) -> ReliabilityBins:
    """Held-out confidence vs accuracy in equal-width bins (the reliability diagram)."""
    edges = np.linspace(0, 1, bins + 1)
    conf = cv.confidence[cv.scored]
    ok = cv.correct[cv.scored]
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, bins) / count
        acc = np.bincount(which, ok.astype(float), bins) / count
    return ReliabilityBins(edges, count, mean_conf, acc)


@dataclass
class Mislabel:
    index: int  # into the labeled images
    label: object  # the label given
    predicted: object  # what the model, refitted without this label, predicts
    label_prob: float  # held-out probability of the given label
    predicted_prob: float


def possible_mislabels(cv: CrossValResult, limit: int = 20, max_label_prob: float = 0.5) -> list[Mislabel]:
    """Labels the model disagrees with most: held out (so refitted without that very label),
    predicted as another class, and given little probability; least probable first."""
    if not len(cv.labels):
        return []
    pred, tp = cv.predicted, cv.true_prob
    rows = np.flatnonzero(cv.scored & (pred != cv.labels) & (tp <= max_label_prob))
    rows = rows[np.argsort(tp[rows], kind="stable")][:limit]
    conf = cv.confidence
    return [Mislabel(int(i), _py(cv.labels[i]), _py(pred[i]), float(tp[i]), float(conf[i])) for i in rows]


def _py(v):
    return v.item() if hasattr(v, "item") else v


__all__ = ["ClassStats", "Mislabel", "ReliabilityBins", "class_stats", "confusion_matrix", "confusion_rows",
           "possible_mislabels", "reliability"]
