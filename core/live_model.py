"""The in-memory state behind live predictions, in NumPy only (no Qt, no disk).

A project's embeddings live in one (N, D) float32 matrix, row-aligned with the
gallery, so "refit + predict everything" is a handful of matrix products.  The
GUI runs :func:`fit_predict` on a worker thread after every label change and
swaps the resulting :class:`PredictionState` in on the UI thread; the bench
(bench/bench_gui_latency.py) times the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fitting import (  # noqa: F401  the shared fitting policy, re-exported for app/
    AUTO_THRESHOLD_PER_CLASS, MAX_UNLABELED_POOL, UNLABELED, labeled_rows_per_class,
    pool_sample,
)
from .fitting import fit_rows as fit_method  # noqa: F401  the one fit path, under its app name
from .methods import get_method
from .methods.base import l2_normalize, softmax

#: Queries are scored in blocks so a method's temporaries (normalised copies,
#: logits) stay a few tens of MB even for a 100,000-image project.
PREDICT_BLOCK = 8192

#: From this many images up, a method other than ProtoNet is preceded by an instant ProtoNet
#: preview (a matmul), so a label change shows up at once and the slower method refines it
#: (the transductive default took ~90 ms to refit 1,000 images on the loaded 2-core build box).
PREVIEW_MIN_ROWS = 500
INSTANT_METHOD = "protonet"


class EmbeddingMatrix:
    """Row-aligned embeddings with amortised appends and a "have it" mask."""

    def __init__(self, dim: int = 0, capacity: int = 0):
        self.dim = dim
        self._data = np.zeros((capacity, dim), np.float32)
        self._have = np.zeros(capacity, bool)
        # 1 / ||row||, kept up to date on insert so cosine scoring never re-normalises N rows
        self._inv_norm = np.zeros(capacity, np.float32)
        self.n = 0

    @property
    def data(self) -> np.ndarray:
        """(n, D) view; rows without an embedding are zeros."""
        return self._data[: self.n]

    @property
    def have(self) -> np.ndarray:
        return self._have[: self.n]

    @property
    def inv_norm(self) -> np.ndarray:
        return self._inv_norm[: self.n]

    def resize(self, n: int) -> None:
        """Grow (new rows empty) or shrink to n rows."""
        if n > len(self._data):
            cap = max(n, int(len(self._data) * 1.5) + 64)
            data = np.zeros((cap, self.dim), np.float32)
            have = np.zeros(cap, bool)
            inv = np.zeros(cap, np.float32)
            data[: self.n] = self._data[: self.n]
            have[: self.n] = self._have[: self.n]
            inv[: self.n] = self._inv_norm[: self.n]
            # Replace rather than mutate: a worker may still be reading the old arrays.
            self._data, self._have, self._inv_norm = data, have, inv
        elif n < self.n:
            self._have[n : self.n] = False
            self._data[n : self.n] = 0
            self._inv_norm[n : self.n] = 0
        self.n = n

    def set_rows(self, rows: np.ndarray, vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, np.float32)
        if vecs.size == 0:
            return
        if self.dim != vecs.shape[1]:
            if self.have.any():
                raise ValueError(f"embedding size {vecs.shape[1]} does not match the matrix ({self.dim})")
            # First vectors of a new backbone fix the width.
            self.dim = vecs.shape[1]
            self._data = np.zeros((len(self._data), self.dim), np.float32)
            self._inv_norm = np.zeros(len(self._data), np.float32)
        self._data[rows] = vecs
        self._have[rows] = True
        self._inv_norm[rows] = 1.0 / np.maximum(np.sqrt(np.einsum("ij,ij->i", vecs, vecs)), 1e-12)

    def delete_rows(self, rows: np.ndarray) -> None:
        keep = np.ones(self.n, bool)
        keep[rows] = False
        data = self._data[: self.n][keep]
        have = self._have[: self.n][keep]
        inv = self._inv_norm[: self.n][keep]
        self._data, self._have, self._inv_norm, self.n = data, have, inv, len(data)

    def clear(self, dim: int = 0) -> None:
        """Forget every vector (a backbone change); keeps the row count."""
        n = self.n
        self.dim = dim
        self._data = np.zeros((n, dim), np.float32)
        self._have = np.zeros(n, bool)
        self._inv_norm = np.zeros(n, np.float32)
        self.n = n


@dataclass
class PredictionState:
    """Predictions for every row of the matrix at one moment (one generation)."""

    generation: int
    class_ids: np.ndarray  # (C,) int64: column order of probs (project class ids)
    probs: np.ndarray  # (N, C) float32; rows of images without an embedding are 0
    top: np.ndarray  # (N,) int64 class id, or UNLABELED when there is no prediction
    confidence: np.ndarray  # (N,) float32, 0 where there is no prediction
    fit_ms: float = 0.0
    predict_ms: float = 0.0
    #: an instant ProtoNet pass shown while a slower method refines in the background
    preview: bool = False
    #: "unknown" threshold for the target error rate (core.methods.calibration.TARGET_ERROR) on the
    #: calibrated confidences; None with fewer than two classes
    auto_threshold: float | None = None
    #: the project's temperature factor on the method's probabilities (1.0: the shipped fit alone)
    confidence_factor: float = 1.0
    #: the method ``auto`` chose for these labels (core.evaluation.choice.ModelChoice), else None
    chosen: object = None

    @classmethod
    def empty(cls, n: int, generation: int = 0) -> "PredictionState":
        return cls(
            generation,
            np.zeros(0, np.int64),
            np.zeros((n, 0), np.float32),
            np.full(n, UNLABELED, np.int64),
            np.zeros(n, np.float32),
        )

    def top_k(self, row: int, k: int = 5) -> list[tuple[int, float]]:
        """[(class id, probability)] best first for one row."""
        if row >= len(self.probs) or self.probs.shape[1] == 0 or self.top[row] == UNLABELED:
            return []
        p = self.probs[row]
        order = np.argsort(-p)[:k]
        return [(int(self.class_ids[i]), float(p[i])) for i in order]


def cosine_scorer(method):
    """A fast scorer for methods whose probabilities are ``softmax(T * cos(x, p_c))``, or None.

    Cosine ProtoNet scores are a single matmul once rows are unit length; with the
    matrix's cached 1/||x|| the N x D embeddings are never copied or re-normalised
    (``predict_proba`` would normalise every row again on every refit).  Only used
    for exactly that method; tests check it matches ``predict_proba``.
    """
    from core.methods.protonet import PrototypicalNetwork

    if type(method) is not PrototypicalNetwork or method.metric != "cosine" or method.prototypes_ is None:
        return None
    protos = l2_normalize(method.prototypes_).T.astype(np.float32)
    temperature = np.float32(method.temperature)

    def score(block: np.ndarray, inv_norm: np.ndarray) -> np.ndarray:
        logits = block @ protos
        logits *= (temperature * inv_norm)[:, None]
        return softmax(logits, axis=1).astype(np.float32, copy=False)

    return score


#: The leave-one-out refits see at most this many labeled images per class (an evenly spaced
#: subset): as many as the app's model for every few-shot project, bounded cost for big ones.
CALIBRATION_SUPPORT_PER_CLASS = 50


def confidence_calibration(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray, cancel=None):
    """The project's confidence factor (``core.methods.calibration.calibrate_on_labels``): each of
    up to LOO_PER_CLASS labeled images per class (fewer with many classes) is held out and scored by the method refitted on
    the others plus an evenly spaced sample of the unlabeled images; the temperature factor that
    fits those held-out predictions is shrunk toward the shipped fit (1.0) when labels are few."""
    from core.methods.calibration import LOO_POOL, calibrate_on_labels

    usable = have[: len(labels)]
    rows = labeled_rows_per_class(labels, usable, CALIBRATION_SUPPORT_PER_CLASS)
    pool = np.flatnonzero((labels == UNLABELED) & usable)
    if len(pool) > LOO_POOL:  # index the sample, never copy the whole pool
        pool = pool[np.linspace(0, len(pool) - 1, LOO_POOL).astype(np.int64)]
    return calibrate_on_labels(lambda: get_method(method_name), emb[rows], labels[rows],
                               unlabeled=emb[pool] if len(pool) else None, cancel=cancel)


def auto_unknown_threshold(state: PredictionState, labels: np.ndarray, target: float | None = None) -> float | None:
    """The confidence below which a prediction is "unknown": the lowest one such that the project's
    unlabeled images predicted at or above it are expected (by their calibrated confidence) to be
    wrong at most ``target`` of the time (default ``core.methods.calibration.TARGET_ERROR``).
    None with fewer than two classes (every confidence is 100 %: nothing to threshold)."""
    from core.methods.calibration import TARGET_ERROR, threshold_for_error

    if len(state.class_ids) < 2:
        return None
    n = min(len(labels), len(state.top))
    rows = (labels[:n] == UNLABELED) & (state.top[:n] != UNLABELED)
    return threshold_for_error(state.confidence[:n][rows], TARGET_ERROR if target is None else target)


def auto_threshold_help(threshold: float | None = None) -> str:
    """What the automatic threshold means, in the user's words (the Auto checkbox's tooltip and,
    with the value in use, the threshold label's)."""
    from core.methods.calibration import TARGET_ERROR

    right = round(100 * (1 - TARGET_ERROR))
    if threshold is None:
        return (f"Auto: mark a prediction unknown when it is below the confidence at which FewLens expects "
                f"the predictions above it to be right at least {right}% of the time (estimated from your "
                f"labeled images; confidences are calibrated on them too)")
    if threshold <= 0.0:
        return f"Every prediction is expected to be right at least {right}% of the time: none is marked unknown"
    if threshold >= 1.0:
        return f"No prediction is sure enough to be right {right}% of the time yet: label more images"
    return (f"Predictions at or above {threshold:.0%} are expected to be right at least {right}% of the time; "
            f"those below are marked unknown")


def recalibrated(state: PredictionState, factor: float, labels: np.ndarray) -> PredictionState:
    """``state`` with its probabilities rescaled to the confidence factor ``factor`` (power scaling
    composes, and never changes the top class) and the automatic threshold recomputed."""
    from dataclasses import replace

    from core.methods.calibration import power_scale

    probs = state.probs
    if factor != state.confidence_factor and probs.size:
        probs = power_scale(probs, factor / state.confidence_factor).astype(np.float32)
        probs[state.top == UNLABELED] = 0.0
    conf = probs.max(1) if probs.shape[1] else state.confidence
    out = replace(state, probs=probs, confidence=conf.astype(np.float32), confidence_factor=float(factor))
    out.auto_threshold = auto_unknown_threshold(out, labels)
    return out


def calibrated_fit_predict(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray,
                           generation: int = 0, cancel=None, inv_norm: np.ndarray | None = None,
                           method_kwargs: dict | None = None, adapted: bool = False) -> PredictionState:
    """What the app shows once it settles: :func:`fit_predict` with the project's confidence factor
    (:func:`project_confidence_factor`) applied and the automatic threshold for the target error rate.
    (The predictor shows the predictions with the last factor first: the factor costs refits.)"""
    state = fit_predict(method_name, emb, have, labels, generation, cancel=cancel, inv_norm=inv_norm,
                        method_kwargs=method_kwargs)
    return recalibrated(state, project_confidence_factor(method_name, emb, have, labels, adapted, cancel), labels)


def project_confidence_factor(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray,
                              adapted: bool = False, cancel=None) -> float:
    """The factor the app applies to the method's probabilities (:func:`confidence_calibration`).

    ``adapted``: ``emb`` comes from a backbone adapted to the labeled images.  Their held-out
    confidence is then inflated, and a factor fitted on the pretrained features measured wrong for
    adapted ones (bench/results/calibration.md: ECE 6.0 -> 11.8 % on clothing17, 5.4 -> 17.6 % on
    pbc_blood_cells: adapting already fixes most of what the factor corrects), so the factor stays 1
    and the offline fit (core.adaptation.ADAPTED_TEMPERATURE_SCALE) applies alone."""
    if adapted:
        return 1.0
    try:
        return confidence_calibration(method_name, emb, have, labels, cancel).factor
    except Exception:  # a calibration failure must not stop predictions: the shipped fit alone
        import traceback

        traceback.print_exc()
        return 1.0


def fit_predict(
    method_name: str,
    emb: np.ndarray,
    have: np.ndarray,
    labels: np.ndarray,
    generation: int = 0,
    cancel=None,
    inv_norm: np.ndarray | None = None,
    method_kwargs: dict | None = None,
    confidence_factor: float = 1.0,
) -> PredictionState:
    """Fit ``method_name`` on the labeled rows and score every embedded row.

    ``emb`` (N, D), ``have`` (N,) bool, ``labels`` (N,) class id or UNLABELED;
    ``inv_norm`` (N,) = 1/||emb row|| enables the cosine fast path.
    ``cancel()`` returning True abandons the work (a newer label change
    superseded it); the partial result is then discarded by the caller.
    ``confidence_factor``: temperature factor applied to the probabilities (calibrated_fit_predict).
    """
    from core.methods.calibration import power_scale

    import time

    n = len(labels)
    have = have[:n]
    t0 = time.perf_counter()
    method = fit_method(method_name, emb, have, labels, method_kwargs)
    if method is None:
        return PredictionState.empty(n, generation)
    t1 = time.perf_counter()

    class_ids = np.asarray(method.classes_, np.int64)
    probs = np.zeros((n, len(class_ids)), np.float32)
    fast = cosine_scorer(method) if inv_norm is not None else None
    for start in range(0, n, PREDICT_BLOCK):
        if cancel is not None and cancel():
            break
        stop = min(n, start + PREDICT_BLOCK)
        if fast is not None:
            probs[start:stop] = fast(emb[start:stop], inv_norm[start:stop])
        else:
            probs[start:stop] = method.predict_proba(emb[start:stop])
        if confidence_factor != 1.0:
            probs[start:stop] = power_scale(probs[start:stop], confidence_factor)
    probs[~have] = 0.0
    col = probs.argmax(1)
    confidence = probs[np.arange(n), col]
    top = np.where(have, class_ids[col], UNLABELED)
    t2 = time.perf_counter()
    return PredictionState(generation, class_ids, probs, top, confidence, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                           confidence_factor=float(confidence_factor),
                           chosen=getattr(method, "choice", None))


@dataclass
class ProjectRows:
    """The image table of a project as row-aligned arrays (what a session starts from)."""

    ids: np.ndarray
    files: list[str]
    hashes: list[str]
    labels: np.ndarray
    missing: np.ndarray
    row_of: dict[int, int]


def read_project_rows(project) -> ProjectRows:
    """Read every image record (and check which files are missing).  Safe on any thread:
    the project gives each thread its own SQLite connection."""
    recs = project.images()
    n = len(recs)
    ids = np.fromiter((r.id for r in recs), np.int64, n)
    return ProjectRows(
        ids=ids,
        files=[r.file for r in recs],
        hashes=[r.hash for r in recs],
        labels=np.fromiter((UNLABELED if r.class_id is None else r.class_id for r in recs), np.int64, n),
        missing=np.fromiter((r.missing for r in recs), bool, n),
        row_of=dict(zip(ids.tolist(), range(n))),
    )


def take_rows(p: PredictionState, index: np.ndarray) -> PredictionState:
    return PredictionState(p.generation, p.class_ids, p.probs[index], p.top[index], p.confidence[index],
                           preview=p.preview, auto_threshold=p.auto_threshold, confidence_factor=p.confidence_factor)


def grow_predictions(p: PredictionState, unknown: np.ndarray, n: int) -> tuple[PredictionState, np.ndarray]:
    """Predictions (and unknown flags) padded to ``n`` rows: rows appended since the request
    have no prediction yet."""
    extra = n - len(p.top)
    if len(unknown) != len(p.top):
        unknown = np.zeros(len(p.top), bool)
    if extra <= 0:
        return p, unknown
    grown = PredictionState(
        p.generation,
        p.class_ids,
        np.concatenate([p.probs, np.zeros((extra, p.probs.shape[1]), np.float32)]),
        np.concatenate([p.top, np.full(extra, UNLABELED, np.int64)]),
        np.concatenate([p.confidence, np.zeros(extra, np.float32)]),
        preview=p.preview,
        auto_threshold=p.auto_threshold,
        confidence_factor=p.confidence_factor,
    )
    return grown, np.concatenate([unknown, np.zeros(extra, bool)])
