"""Adapting the backbone to the user's labels, in the background (issue 5's default).

Once every class has ``core.adaptation.MIN_SHOTS`` labels, fine-tuning MobileNetV2's
last stage on the labeled images and re-embedding the project with it lifts 5-shot
accuracy by ~4 points (core/adaptation.py).  It costs seconds to minutes, so it
never blocks anything:

- :class:`BackboneAdapter` watches the session and starts one :class:`AdaptJob`
  when the labels have settled (a debounce after the last label change / import,
  and only once no import or embedding job is running).  A newer change cancels
  the running job; the debounce then starts a fresh one.
- :class:`AdaptJob` decodes the labeled images, adapts the backbone, re-embeds every
  row with it and hands back an :class:`AdaptedFeatures` (row-aligned with the ids it
  embedded).  The session decides whether predictions may use it
  (``ProjectSession.adapted_in_use``); until then, and whenever it stops matching
  the project, the frozen embeddings are used exactly as before.

Adapted vectors are never written to the embedding cache: they belong to one label set.  The
newest adaptation is saved in the project instead (core.adapted_store, keyed by
:func:`labels_key`): reopening the project with the same labels restores it with a
:class:`RestoreAdaptedJob` (seconds: no training, no re-embedding); a damaged one is
reported in one line and adapted again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal


from .live_model import UNLABELED, EmbeddingMatrix, labeled_rows_per_class
from .workers import Job

#: Quiet time after the last label change before adapting (labels often come in bursts).
DEBOUNCE_MS = 1500

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


class AdaptJob(Job):
    """Adapt the backbone to the labeled images, then re-embed every row with it."""

    title = "Adapting the model to your labels"

    def __init__(self, request: AdaptRequest, parent: QObject | None = None):
        super().__init__(parent)
        self.request = request
        self.result: AdaptedFeatures | None = None
        # cancelled by the app (labels changed, adaptation turned off), not by the user's Cancel
        self.superseded = False
        self.skipped: str | None = None  # why nothing was adapted (e.g. too few readable labels)
        self.save_error: str | None = None  # the project could not store it (it is still used)

    def run(self) -> None:
        import time

        from core.adaptation import AdaptationSettings, adapt_and_embed

        t0 = time.perf_counter()
        r = self.request
        settings = r.settings or AdaptationSettings()
        train_rows = _training_rows(r.labels, r.missing)
        embed_rows = np.flatnonzero(~r.missing)
        self.status.emit("Adapting the model to your labels…")
        device = self._device()
        if device == "cpu":
            _leave_a_core_free()
        phase = ["adapting"]

        def progress(stage: str, done: int, total: int) -> None:  # one bar: decode, adapt, re-embed
            if stage != phase[0]:
                phase[0] = stage
                self.status.emit(f"Re-analysing {len(embed_rows):,} images with the adapted model…")
            self.progress.emit(done, total)

        paths = [r.files[row] for row in embed_rows]
        a = adapt_and_embed(r.backbone, [r.files[row] for row in train_rows],
                            [int(r.labels[row]) for row in train_rows], paths, center_embeddings=self._center(), settings=settings, device=device,
                            progress=progress, cancel=self.is_cancelled, need_min_shots=True)
        self.errors.extend(a.errors)
        if a.network is None:
            self.skipped = a.skipped
            return
        matrix = EmbeddingMatrix()
        matrix.resize(len(r.ids))
        unreadable = r.missing.copy()  # no adapted vector can be made for them either
        got_rows, vecs = [], []
        for row, p in zip(embed_rows, paths):
            vec = a.embeddings.get(Path(p))
            if vec is None:
                unreadable[row] = True
            else:
                got_rows.append(row)
                vecs.append(vec)
        if vecs:
            matrix.set_rows(np.asarray(got_rows, np.int64), np.stack(vecs))
        self.result = AdaptedFeatures(r.backbone, r.ids, r.key, a.n_labels, a.network.fingerprint, matrix,
                                      unreadable, device, time.perf_counter() - t0, network=a.network,
                                      labels=r.labels.copy())
        if r.project is not None and not self.is_cancelled():
            self._save(r.project)

    def _save(self, project) -> None:
        """Into the project (core.adapted_store), so reopening it predicts at once; a project
        that cannot be written (read-only, disk full) only loses that, never the adaptation."""
        import sqlite3

        from core import adapted_store
        from core.errors import FewLensError

        res = self.result
        try:
            adapted_store.save(project, res.key, res.network, res.ids, res.labels, res.n_labels, res.unreadable,
                               res.matrix.have, res.matrix.data)
        except (FewLensError, sqlite3.Error) as e:  # e.g. the project closed under it
            self.save_error = str(e)

    def _device(self) -> str:
        if self.request.device != "auto":
            return self.request.device
        from core.embedder import resolve_device

        return resolve_device("auto")  # torch on CUDA when there is a GPU, else the CPU

    def _center(self) -> np.ndarray | None:
        """Frozen embeddings of the project's images (an evenly spaced sample on big projects)."""
        rows = np.flatnonzero(self.request.frozen_have)
        if len(rows) == 0:
            return None
        if len(rows) > MAX_CENTER_ROWS:
            rows = rows[np.linspace(0, len(rows) - 1, MAX_CENTER_ROWS).astype(np.int64)]
        return np.asarray(self.request.frozen[rows], np.float32)


class RestoreAdaptedJob(Job):
    """Read the adaptation saved in the project back (core.adapted_store): the one for these
    labels, or one for a few labels less (the same rows, not stale: core.adaptation.needs_readaptation),
    as the session kept using it before the project was closed."""

    title = "Loading the adapted model"

    def __init__(self, project, key: str, backbone: str, ids: np.ndarray, labels: np.ndarray,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.project, self.key, self.backbone = project, key, backbone
        self.ids, self.labels = ids, labels
        self.result: AdaptedFeatures | None = None
        self.notice: str | None = None  # the saved one was damaged: what the status bar says
        self.mismatch: str | None = None  # why a sound saved one does not apply (then it adapts)
        self.superseded = False
        self.skipped: str | None = None  # (an AdaptJob's field; a restore never skips adapting)

    def run(self) -> None:
        import time

        from core import adapted_store

        t0 = time.perf_counter()
        self.status.emit("Loading the model adapted to your labels…")
        from core.adaptation import needs_readaptation

        try:
            stored = adapted_store.load(self.project)
            if stored is None or stored.backbone != self.backbone:
                return
            if stored.key != self.key and (not np.array_equal(stored.ids, self.ids)
                                           or needs_readaptation(stored.labels, self.labels, UNLABELED)):
                self.mismatch = "the labels changed too much since it was saved"
                return
            if self.is_cancelled():
                return
            network = stored.network()
        except adapted_store.AdaptedStoreError as e:
            self.notice = str(e)
            return
        matrix = EmbeddingMatrix()
        matrix.resize(len(stored.ids))
        rows = np.flatnonzero(stored.have)
        if len(rows):
            matrix.set_rows(rows, stored.embeddings[rows])
        self.result = AdaptedFeatures(stored.backbone, stored.ids, stored.key, stored.n_labels, stored.fingerprint,
                                      matrix, stored.unreadable, network.device, time.perf_counter() - t0,
                                      network=network, labels=stored.labels)


def _training_rows(labels: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Labeled, present rows; at most MAX_TRAIN_PER_CLASS per class, evenly spaced."""
    return np.sort(labeled_rows_per_class(labels, ~missing, MAX_TRAIN_PER_CLASS))


def _leave_a_core_free() -> None:
    """Torch on the CPU: one thread fewer than the cores, so the UI thread, the predictor and
    the decoders keep a core.  With torch's default (every core) the sample project's
    adaptation took 107 s instead of 26 s on the 2-core build box with one core busy
    elsewhere (OpenMP threads spinning against each other), and the UI stalled longer."""
    import torch

    from core.embedder import default_threads

    torch.set_num_threads(max(1, default_threads() - 1))


class BackboneAdapter(QObject):
    """Decides when the backbone is adapted for one session, and runs at most one job at a time.

    ``start(job)`` runs a job (the window's: task banner, Cancel, its thread pool);
    ``blocked()`` is True while importing or embedding, which must finish first (the
    window calls :meth:`schedule` when they do).
    """

    #: an AdaptJob started (for tests and the status bar)
    jobStarted = Signal(object)
    #: an AdaptJob finished: applied, cancelled, skipped or failed (read the job)
    jobFinished = Signal(object)

    def __init__(self, session, start: Callable[[Job], Job], blocked: Callable[[], bool] = lambda: False,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self._start = start
        self._blocked = blocked
        self.settings = None  # AdaptationSettings; tests make it cheap
        self.device = "auto"
        self.job: AdaptJob | None = None
        # a key the user cancelled or that failed: not retried until the labels/rows change
        self._declined_key: str | None = None
        self._declined: tuple[np.ndarray, np.ndarray] | None = None  # (ids, labels) of that key
        self._stopped = False  # the session was closed: never start another job
        self._restore_tried = False  # the project's saved adaptation was looked at (once per session)
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.timeout.connect(self._maybe_start)
        for sig in (session.labelsChanged, session.rowsAppended, session.imagesReset, session.settingsChanged):
            sig.connect(self._changed)
        session.embeddingsChanged.connect(self._embeddings_changed)

    # ------------------------------------------------------------------ triggers
    def schedule(self) -> None:
        """(Re)start the debounce: an adaptation starts once things are quiet for DEBOUNCE_MS."""
        if self.session.adapt_enabled:
            self.timer.start()
        else:
            self.timer.stop()

    def _current_key(self) -> str:
        s = self.session
        return labels_key(s.backbone, s.ids, s.labels)

    def _stale(self, ids: np.ndarray, trained: np.ndarray | None) -> bool:
        """Labels / rows moved far enough from ``trained`` that adapting again pays
        (core.adaptation.needs_readaptation); a new or removed row always does."""
        from core.adaptation import needs_readaptation

        s = self.session
        if trained is None or len(ids) != len(s.ids) or not np.array_equal(ids, s.ids):
            return True
        return needs_readaptation(trained, s.labels, UNLABELED)

    def _changed(self, *_args) -> None:
        if self._stopped:
            return
        job = self.job
        if isinstance(job, RestoreAdaptedJob):
            if not self.session.adapt_enabled or job.key != self._current_key():
                job.superseded = True
                job.cancel()  # restoring labels that are no longer the project's
        elif job is not None and not job.is_cancelled():
            r = job.request
            if not self.session.adapt_enabled or self._stale(r.ids, r.labels):
                job.superseded = True
                job.cancel()  # adapting to labels the user has since changed a lot: start over
        self.schedule()

    def _embeddings_changed(self) -> None:
        # a running job embeds every row itself: new frozen vectors do not make it stale
        if self.job is None and not self._stopped:
            self.schedule()

    @property
    def running(self) -> bool:
        return self.job is not None

    def wanted(self) -> bool:
        """Whether the current labels call for an adaptation that is not there yet."""
        from core.adaptation import should_adapt

        s = self.session
        if not s.adapt_enabled:
            return False
        if not should_adapt(s.labels[s.labels != UNLABELED], s.backbone):
            return False
        key = self._current_key()
        if key == self._declined_key:
            return False
        if self._declined is not None and not self._stale(*self._declined):
            return False  # cancelled a moment ago: a label or two more does not ask again
        a = s.adapted
        if a is None or a.backbone != s.backbone:
            return True
        # A few more labels: the adapted features stay in use (the method refits on them at once).
        return a.key != key and self._stale(a.ids, a.labels)

    def _maybe_start(self) -> None:
        if self._stopped or self.job is not None:
            return  # one at a time; its end reschedules
        if not self.wanted():
            return
        if self._try_restore():
            return  # reading a saved adaptation back does not wait for imports: it re-embeds nothing
        if self._blocked():
            return  # the window reschedules when its import / embedding finishes
        s = self.session
        req = AdaptRequest(
            backbone=s.backbone, ids=s.ids.copy(), files=list(s.files), labels=s.labels.copy(),
            missing=s.missing.copy(), key=self._current_key(), frozen=s.emb.data, frozen_have=s.emb.have.copy(),
            settings=self.settings, device=self.device, project=s.project)
        job = AdaptJob(req)
        self._restore_tried = True  # this session adapts itself from now on: what is saved is older
        job.finished.connect(self._finished)
        self.job = job
        self._start(job)
        self.jobStarted.emit(job)

    def _try_restore(self) -> bool:
        """Start a RestoreAdaptedJob when the project holds an adaptation of this backbone (once per
        session: later ones are in memory; a damaged or stale one falls through to adapting)."""
        from core import adapted_store

        s = self.session
        key = self._current_key()
        if self._restore_tried or s.adapted is not None:
            return False
        stored = adapted_store.stored_key(s.project)
        if stored is None or stored[1] != s.backbone:
            return False
        self._restore_tried = True
        job = RestoreAdaptedJob(s.project, key, s.backbone, s.ids.copy(), s.labels.copy())
        job.finished.connect(self._finished)
        self.job = job
        self._start(job)
        self.jobStarted.emit(job)
        return True

    def restore_now(self) -> bool:
        """On opening: restore the saved adaptation at once (no debounce), if there is one."""
        if self._stopped or self.job is not None or not self.wanted():
            return False
        return self._try_restore()

    def retry(self) -> None:
        """The user asked again (switched adapting back on): forget a cancel, schedule."""
        self._declined_key = None
        self._declined = None
        self.schedule()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.superseded = True
            self.job.cancel()
        self.timer.stop()

    def _finished(self, job: "AdaptJob | RestoreAdaptedJob") -> None:
        if job is self.job:
            self.job = None
        key_now = self._current_key()
        if self._stopped:
            self.jobFinished.emit(job)
            return
        restored = isinstance(job, RestoreAdaptedJob)
        if job.result is not None and not job.cancelled:
            self.session.set_adapted(job.result)
        elif restored:
            if job.cancelled and not job.superseded and job.key == key_now:  # the user's Cancel
                self._declined_key = key_now
                self._declined = (self.session.ids.copy(), self.session.labels.copy())
        elif job.request.key == key_now and ((job.cancelled and not job.superseded) or job.error or job.skipped):
            # The user pressed Cancel (or it failed) on the labels as they are: keep the pretrained
            # features and do not restart until something changes.
            self._declined_key = key_now
            self._declined = (self.session.ids.copy(), self.session.labels.copy())
        self.jobFinished.emit(job)
        if self.session.adapt_enabled and not self._stopped:
            self.timer.start()  # labels changed while it ran: adapt to the newest ones

    def shutdown(self) -> None:
        """The session is closing: cancel the job, start no other."""
        self._stopped = True
        self.cancel()
