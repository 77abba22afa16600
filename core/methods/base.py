"""The one small interface every few-shot method implements (easyfsl style).

    method = get_method("protonet")
    method.process_support_set(support_embeddings, support_labels)
    probs = method.predict_proba(query_embeddings)        # (M, C)
    pred = method.predict(query_embeddings, threshold=0.5)

Embeddings are float32 arrays (N, D) from a backbone; labels are any
hashable values (ints or class names).  ``classes_`` keeps their order and is
the column order of ``predict_proba``.  Methods that can use unlabeled images
(transductive / semi-supervised) accept them via ``unlabeled=``; the rest
ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Predictions:
    """Per-query results.  ``top`` holds class labels, not column indices."""

    probs: np.ndarray  # (M, C) float, rows sum to 1
    classes: np.ndarray  # (C,) labels, column order of probs
    top: np.ndarray  # (M,) predicted label
    confidence: np.ndarray  # (M,) probability of the predicted label
    unknown: np.ndarray  # (M,) bool: confidence below the threshold

    def __len__(self) -> int:
        return len(self.top)


class FewShotMethod:
    """Fit on a labeled support set, then score queries."""

    name: str = "base"
    #: True when ``process_support_set`` uses ``unlabeled=`` (the app passes the project's unlabeled pool)
    uses_unlabeled: bool = False

    def __init__(self) -> None:
        self.classes_: np.ndarray | None = None

    # --- to implement -----------------------------------------------------
    def _fit(self, x: np.ndarray, y: np.ndarray, unlabeled: np.ndarray | None) -> None:
        """x: (N, D) float32; y: (N,) int column indices into classes_."""
        raise NotImplementedError

    def _scores(self, q: np.ndarray) -> np.ndarray:
        """Return (M, C) probabilities (rows sum to 1)."""
        raise NotImplementedError

    # --- public API -------------------------------------------------------
    def process_support_set(self, support: np.ndarray, labels, unlabeled: np.ndarray | None = None) -> "FewShotMethod":
        support = np.asarray(support, dtype=np.float32)
        labels = np.asarray(labels)
        if support.ndim != 2 or len(support) != len(labels):
            raise ValueError(f"support must be (N, D) with N labels, got {support.shape} and {labels.shape}")
        if len(support) == 0:
            raise ValueError("support set is empty: label at least one image")
        self.classes_, y = np.unique(labels, return_inverse=True)
        if unlabeled is not None:
            unlabeled = np.asarray(unlabeled, dtype=np.float32)
            if unlabeled.size == 0:
                unlabeled = None
        self._fit(support, y.astype(np.int64), unlabeled)
        return self

    fit = process_support_set

    def predict_proba(self, query: np.ndarray) -> np.ndarray:
        if self.classes_ is None:
            raise RuntimeError(f"{self.name}: call process_support_set() first")
        query = np.asarray(query, dtype=np.float32)
        if query.ndim == 1:
            query = query[None]
        if len(query) == 0:
            return np.zeros((0, len(self.classes_)), np.float32)
        return self._scores(query)

    def predict(self, query: np.ndarray, threshold: float = 0.0) -> Predictions:
        probs = self.predict_proba(query)
        idx = probs.argmax(1) if probs.size else np.zeros(0, np.int64)
        conf = probs[np.arange(len(idx)), idx] if probs.size else np.zeros(0, np.float32)
        return Predictions(
            probs=probs,
            classes=self.classes_,
            top=self.classes_[idx] if len(idx) else self.classes_[:0],
            confidence=conf,
            unknown=conf < threshold,
        )


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)
