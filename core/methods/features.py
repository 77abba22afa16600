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
  labeled plus unlabeled images (what the app has: the whole project), or
  the labeled images alone.
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

    ``center`` picks the reference: ``"pool"`` (support plus unlabeled images),
    ``"support"`` (labeled images only) or ``"none"``.
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
        self.fit_transform(support, unlabeled)
        return self

    def fit_transform(self, support: np.ndarray, unlabeled: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """Fit the mean and return (transformed support, transformed unlabeled or None)."""
        s = self._base(support)
        u = self._base(unlabeled) if unlabeled is not None and len(unlabeled) else None
        if self.center == "none":
            self.mean_ = None
        else:
            # the labeled images count too: a pool of one or two images must not define "the average photo"
            ref = np.concatenate([s, u]) if (self.center == "pool" and u is not None) else s
            self.mean_ = ref.mean(0, dtype=np.float64).astype(np.float32)
        return self._finish(s), (self._finish(u) if u is not None else None)

    def _finish(self, base: np.ndarray) -> np.ndarray:
        if self.mean_ is not None:
            base = base - self.mean_
        return l2_normalize(base).astype(np.float32, copy=False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._finish(self._base(x))

    def similarity(self, x: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """``self(x) @ directions.T`` for unit ``directions`` (C, D), without materializing ``self(x)``.

        The GUI scores every image of the project after each label change.  With
        b = base(x) of unit length, ||b - m||^2 = 1 - 2 b.m + ||m||^2, so the
        centered, re-normalized similarity needs only one (N, D) x (D, C + 1)
        product and one row norm (plus one elementwise sqrt for beta = 0.5,
        where ||sqrt(x)||^2 = sum(x)).
        """
        x = np.asarray(x, np.float32)
        eps = np.float32(1e-6)
        if not (self.normalize_first and self.mean_ is not None and self.beta in (0.5, 1.0)):
            return self(x) @ directions.T
        m = self.mean_
        both = np.concatenate([directions, m[None]]).T.astype(np.float32)  # (D, C + 1)
        if self.beta == 1.0:
            raw = x @ both  # (N, C + 1)
            norm_x = np.sqrt(np.einsum("ij,ij->i", x, x))
        else:
            if x.size and x.min() < 0:  # sign-preserving power: no shortcut
                return self(x) @ directions.T
            root = np.add(x, eps)
            np.sqrt(root, out=root)
            raw = root @ both
            del root
            norm_x = np.sqrt(x.sum(1) + x.shape[1] * eps)  # ||sqrt(x + eps)||^2 = sum(x) + D eps
        dots = raw / np.maximum(norm_x, 1e-12)[:, None]  # b @ [directions; m] with b = base(x), unit length
        norm_sq = np.maximum(1.0 - 2.0 * dots[:, -1] + float(m @ m), 1e-12)
        return ((dots[:, :-1] - (m @ directions.T)[None]) / np.sqrt(norm_sq)[:, None]).astype(np.float32)
