"""Feature transforms for frozen backbone embeddings, in NumPy.

Frozen ImageNet features of few-shot photos share a large common component
(every photo "looks like a photo"), so cosine similarities between classes
are all high and hard to tell apart.  Three cheap fixes, each measured in
bench/bench_accuracy.py:

* power transform ``x ** beta`` (Tukey / PT-MAP): post-ReLU features are
  non-negative and heavy-tailed; a square root makes them closer to Gaussian
  so a mean (prototype) describes a class better.
* centering on a reference mean (SimpleShot "CL2N"): subtracting the mean of
  the project's images removes the shared component.  The reference is the
  unlabeled pool when there is one (what the app has: the whole project),
  else the support set itself.
* L2 normalization so similarity is angular.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import l2_normalize


def power_transform(x: np.ndarray, beta: float = 0.5, eps: float = 1e-6) -> np.ndarray:
    """Sign-preserving ``|x| ** beta`` (identity for beta == 1)."""
    if beta == 1.0:
        return x
    if beta == 0.5 and (x >= 0).all():
        # the common case (post-ReLU features): sqrt is several times faster than pow
        return np.sqrt(x + eps, dtype=np.float32)
    return (np.sign(x) * np.power(np.abs(x) + eps, beta)).astype(np.float32)


@dataclass
class FeatureTransform:
    """``x -> l2(power(x) - mean)`` with the mean fitted on a reference set.

    ``center`` picks the reference: ``"pool"`` (the unlabeled images, falling
    back to the support set when there are none), ``"support"`` or ``"none"``.
    """

    beta: float = 1.0
    center: str = "pool"
    normalize_first: bool = True  # L2 before centering too (SimpleShot does)

    def __post_init__(self) -> None:
        if self.center not in ("pool", "support", "none"):
            raise ValueError(f"center must be 'pool', 'support' or 'none', not {self.center!r}")
        self.mean_: np.ndarray | None = None

    def _base(self, x: np.ndarray) -> np.ndarray:
        x = power_transform(np.asarray(x, np.float32), self.beta)
        return l2_normalize(x) if self.normalize_first else x

    def fit(self, support: np.ndarray, unlabeled: np.ndarray | None = None) -> "FeatureTransform":
        if self.center == "none":
            self.mean_ = None
            return self
        ref = unlabeled if (self.center == "pool" and unlabeled is not None and len(unlabeled)) else support
        self.mean_ = self._base(ref).mean(0, dtype=np.float64).astype(np.float32)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = self._base(x)
        if self.mean_ is not None:
            x = x - self.mean_
        return l2_normalize(x).astype(np.float32, copy=False)
