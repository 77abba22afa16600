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

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.adapted_features import AdaptRequest, labels_key
from core.live_model import UNLABELED

from .jobs.adapt import AdaptJob, RestoreAdaptedJob
from .jobs.base import Job

#: Quiet time after the last label change before adapting (labels often come in bursts).
DEBOUNCE_MS = 1500


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
