"""A 2-D map of every image: PCA of the embeddings, in NumPy.

Centered and L2-normalised first (cosine geometry, as the methods see it).  PCA, not UMAP:
it is deterministic, instant on 100,000 images (one D x D covariance), and adds no dependency;
the map is for seeing clusters, outliers and overlapping classes, not for measuring.
"""

from __future__ import annotations

import numpy as np

#: covariance from at most this many rows (an evenly spaced sample); every row is projected
FIT_ROWS = 20_000


def pca_2d(emb: np.ndarray, usable: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) float32 coordinates; rows not ``usable`` (no embedding) are nan."""
    from ..methods.base import l2_normalize

    emb = np.asarray(emb, np.float32)
    n = len(emb)
    usable = np.ones(n, bool) if usable is None else np.asarray(usable, bool)
    out = np.full((n, 2), np.nan, np.float32)
    rows = np.flatnonzero(usable)
    if len(rows) == 0:
        return out
    x = l2_normalize(emb[rows])
    fit = x if len(x) <= FIT_ROWS else x[np.linspace(0, len(x) - 1, FIT_ROWS).astype(np.int64)]
    mean = fit.mean(0)
    if len(rows) < 3:
        out[rows] = 0.0
        return out
    cov = np.cov((fit - mean).T.astype(np.float64))
    w, v = np.linalg.eigh(cov)
    axes = v[:, np.argsort(w)[::-1][:2]]
    # a fixed sign per axis, so the map does not flip between refreshes
    axes *= np.sign(axes[np.abs(axes).argmax(0), [0, 1]])
    out[rows] = ((x - mean) @ axes).astype(np.float32)
    return out


__all__ = ["pca_2d"]
