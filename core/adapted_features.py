"""Embeddings from a backbone adapted to one label set, and when they still apply (NumPy only).

``app/adapter.py`` runs the adaptation in the background; what it hands back, what it depends
on (:func:`labels_key`) and whether a session may predict with it (:func:`covers_rows`) live
here, beside the live-prediction state, so that they need no Qt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .live_model import UNLABELED, EmbeddingMatrix, labeled_rows_per_class

#: Frozen embeddings sampled (evenly spaced) for the head's centering mean: a few thousand
#: images pin the mean down, and copying 100k x 1280 floats would cost half a gigabyte.
MAX_CENTER_ROWS = 10_000

#: Labeled images per class the backbone is trained on (evenly spaced over the class's labels).
#: The recipe's 20 steps of <= 64 views use ~1,300 views in all, and every training image keeps
#: 9 cached 96x14x14 feature maps (~0.7 MB): 64 per class bounds memory on big labeled projects.
MAX_TRAIN_PER_CLASS = 64


def labels_key(backbone: str, ids: np.ndarray, labels: np.ndarray) -> str:
    """What an adaptation depends on: the backbone, the rows and their labels (~1 ms at 100k rows)."""
    h = hashlib.sha1(backbone.encode())
    h.update(np.ascontiguousarray(ids, np.int64).tobytes())
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return h.hexdigest()


@dataclass
class AdaptedFeatures:
    """Embeddings from a backbone adapted to one label set, row-aligned with ``ids``."""

    backbone: str
    ids: np.ndarray  # (N,) image ids in row order when the job started
    key: str  # labels_key() of the snapshot it was adapted to
    n_labels: int  # labeled images it was trained on (unreadable ones skipped)
    fingerprint: str  # hash of the adapted weights
    matrix: EmbeddingMatrix
    unreadable: np.ndarray  # (N,) bool: rows whose file was missing or unreadable for re-embedding
    device: str = "cpu"
    seconds: float = 0.0
    # the adapted network (embeds like an Embedder): Try it embeds new photos with it, so its
    # predictions match the gallery's
    network: object = None
    # the labels (row-aligned with ids) it was trained on: decides when to adapt again
    labels: np.ndarray | None = None


@dataclass
class AdaptRequest:
    """A snapshot of the session taken on the UI thread; the job never touches the session."""

    backbone: str
    ids: np.ndarray
    files: list[str]
    labels: np.ndarray
    missing: np.ndarray
    key: str
    frozen: np.ndarray  # view of the frozen matrix's data (replaced, never shrunk, when rows move)
    frozen_have: np.ndarray  # copy
    settings: object = None  # core.adaptation.AdaptationSettings; None = the measured recipe
    device: str = "auto"
    project: object = None  # core.project.Project to save the adaptation in (None: not saved)


def training_rows(labels: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Labeled, present rows; at most MAX_TRAIN_PER_CLASS per class, evenly spaced."""
    return np.sort(labeled_rows_per_class(labels, ~missing, MAX_TRAIN_PER_CLASS))


def covers_rows(adapted: AdaptedFeatures | None, backbone: str, ids: np.ndarray, frozen_have: np.ndarray) -> bool:
    """``adapted`` was computed for exactly these rows with this backbone (and no row gained a
    frozen vector since, e.g. a relinked file, that it has none for)."""
    a = adapted
    if a is None or a.backbone != backbone or len(a.ids) != len(ids):
        return False
    if not np.array_equal(a.ids, ids):
        return False
    return not (frozen_have & ~a.matrix.have & ~a.unreadable).any()


_can_adapt: dict[str, bool] = {}


def backbone_can_adapt(backbone: str) -> bool:
    """Whether ``backbone`` can be adapted at all (MobileNetV2, EfficientNet-Lite), cached."""
    ok = _can_adapt.get(backbone)
    if ok is None:
        try:
            from .adaptation import can_adapt
        except ImportError:  # a light bundle without torch support
            ok = False
        else:
            ok = can_adapt(backbone)
        _can_adapt[backbone] = ok
    return ok


def labels_allow_adaptation(labels: np.ndarray, backbone: str) -> bool:
    """``core.adaptation.should_adapt`` on row labels (UNLABELED rows ignored): >= 2 classes x ``MIN_SHOTS`` labels."""
    if not backbone_can_adapt(backbone):
        return False
    from .adaptation import should_adapt

    return should_adapt(labels[labels != UNLABELED], backbone)
