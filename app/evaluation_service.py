"""The accuracy estimate, kept fresh in the background (issue 15).

After the labels, embeddings or method change, the :class:`EvaluationService` waits for them to
settle (a debounce), snapshots the session's arrays and runs an :class:`EvaluationJob` on its own
one-thread pool: cross-validation on the labeled images (core.evaluation), the 2-D map, and a
batch of label suggestions.  A newer change cancels the running job; the UI thread only ever
swaps the finished :class:`EvaluationResult` in, so labeling never waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from core.errors import Cancelled
from core.live_model import UNLABELED

from .jobs import Job

#: quiet time after the last label change before the estimate is recomputed (ms)
DEBOUNCE_MS = 800
SUGGESTIONS = 24


@dataclass
class EvaluationResult:
    generation: int
    ids: np.ndarray  # (N,) image ids the arrays below are aligned with
    evaluation: object  # core.evaluation.ProjectEvaluation, or None with fewer than 1 label
    map_xy: np.ndarray  # (N, 2) PCA map (nan where no embedding)
    suggestions: list  # [core.evaluation.Suggestion] (indices are rows of ``ids``)
    seconds: float = 0.0

    def image_ids(self, rows) -> list[int]:
        return [int(self.ids[r]) for r in rows]


class EvaluationJob(Job):
    title = "Estimating accuracy"

    def __init__(self, generation: int, method: str, ids, emb, have, labels, probs, features: str):
        super().__init__()
        self.generation, self.method, self.features = generation, method, features
        self.ids, self.emb, self.have, self.labels, self.probs = ids, emb, have, labels, probs
        self.result: EvaluationResult | None = None

    def run(self) -> None:
        import time

        from core.evaluation import evaluate_labels, pca_2d, suggest_labels

        t0 = time.perf_counter()
        labeled = (self.labels != UNLABELED) & self.have
        ev = None
        if labeled.any():
            ev = evaluate_labels(self.emb, self.have, self.labels, method=self.method, features=self.features,
                                 cancel=self.is_cancelled)
        if self.is_cancelled():
            raise Cancelled()
        xy = pca_2d(self.emb, self.have)
        probs = self.probs if self.probs is not None and self.probs.shape[1] else None
        sugg = suggest_labels(self.emb, labeled, probs, k=SUGGESTIONS, usable=self.have)
        self.result = EvaluationResult(self.generation, self.ids, ev, xy, sugg, time.perf_counter() - t0)


class EvaluationService(QObject):
    #: a new EvaluationResult is in ``result``
    updated = Signal()
    #: a job started (the window says "Estimating…")
    started = Signal()

    def __init__(self, session, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.result: EvaluationResult | None = None
        self.job: EvaluationJob | None = None
        self._generation = 0
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.start_now)
        for sig in (session.labelsChanged, session.classesChanged, session.embeddingsChanged,
                    session.settingsChanged, session.imagesReset, session.featuresChanged):
            sig.connect(self.schedule)
        # suggestions use the predictions: refresh once new ones are in
        session.predictionsChanged.connect(self._predictions_changed)
        self._waiting_for_predictions = False
        self.schedule()

    @property
    def running(self) -> bool:
        return self.job is not None or self._timer.isActive()

    @property
    def stale(self) -> bool:
        return self.result is None or self.result.generation != self._generation

    def schedule(self, *_args) -> None:
        self._generation += 1
        self._waiting_for_predictions = True
        if self.job is not None:
            self.job.cancel()
        self._timer.start()

    def _predictions_changed(self) -> None:
        if self._waiting_for_predictions and self.session.predictions_current:
            self._waiting_for_predictions = False
            if not self._timer.isActive() and self.job is None:
                self._timer.start()

    def start_now(self) -> None:
        s = self.session
        if s.pending_embeddings:
            # images are still being analysed (an import): the estimate would be outdated at once,
            # and its NumPy work would compete with the import for the CPU; the last vector reschedules
            return
        if self.job is not None:
            self.job.cancel()
            self._timer.start()  # start once the cancelled one has let go of the thread
            return
        # the estimate runs on the pretrained features: refitting an adapted backbone per held-out
        # image is not affordable (core.evaluation.crossval says so)
        mat = s.emb
        n = len(s.ids)
        probs = s.pred.probs if len(s.pred.probs) == n else None
        job = EvaluationJob(self._generation, s.method, s.ids.copy(), mat.data[:n], mat.have[:n].copy(),
                            s.labels.copy(), probs, "pretrained")
        job.finished.connect(self._done)
        self.job = job
        self.started.emit()
        job.start(self.pool)

    def _done(self, job: EvaluationJob) -> None:
        if job is self.job:
            self.job = None
        if job.error:
            import sys

            print(f"fewlens: accuracy estimate failed: {job.error}", file=sys.stderr)
        if job.result is not None and not job.cancelled and np.array_equal(job.result.ids, self.session.ids):
            self.result = job.result
            self.updated.emit()
        elif self._generation != job.generation and not self._timer.isActive():
            self._timer.start()

    def wait(self, timeout_ms: int = 30000) -> None:
        """Tests and shutdown: run a pending estimate now and block until it is in."""
        from PySide6.QtCore import QCoreApplication

        if self._timer.isActive():
            self._timer.stop()
            self.start_now()
        self.pool.waitForDone(timeout_ms)
        QCoreApplication.sendPostedEvents()
        QCoreApplication.processEvents()

    def shutdown(self) -> None:
        self._timer.stop()
        if self.job is not None:
            self.job.cancel()
        self.pool.waitForDone(10000)
        for sig, slot in ((self.session.labelsChanged, self.schedule), (self.session.classesChanged, self.schedule),
                          (self.session.embeddingsChanged, self.schedule), (self.session.settingsChanged, self.schedule),
                          (self.session.imagesReset, self.schedule), (self.session.featuresChanged, self.schedule),
                          (self.session.predictionsChanged, self._predictions_changed)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
