"""Prototypical networks (Snell et al. 2017) on frozen embeddings, in NumPy.

The instant method the GUI refits after every label: one mean per class,
then a softmax over (temperature-scaled) cosine similarity or negative
squared Euclidean distance.
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax


class PrototypicalNetwork(FewShotMethod):
    name = "protonet"

    def __init__(self, metric: str = "cosine", temperature: float = 10.0, normalize: bool = True):
        super().__init__()
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', not {metric!r}")
        self.metric = metric
        # cosine similarities live in [-1, 1]; a temperature spreads them into useful logits
        self.temperature = temperature
        self.normalize = normalize
        self.prototypes_: np.ndarray | None = None

    def _prep(self, x: np.ndarray) -> np.ndarray:
        return l2_normalize(x) if (self.normalize or self.metric == "cosine") else x

    def _fit(self, x, y, unlabeled):
        x = self._prep(x)
        c = len(self.classes_)
        protos = np.zeros((c, x.shape[1]), np.float32)
        np.add.at(protos, y, x)
        protos /= np.bincount(y, minlength=c)[:, None]
        self.prototypes_ = protos

    def logits(self, q: np.ndarray) -> np.ndarray:
        q = self._prep(q)
        if self.metric == "cosine":
            return self.temperature * (q @ l2_normalize(self.prototypes_).T)
        d2 = (q * q).sum(1, keepdims=True) - 2 * q @ self.prototypes_.T + (self.prototypes_**2).sum(1)[None]
        return -d2

    def _scores(self, q):
        return softmax(self.logits(q)).astype(np.float32)
