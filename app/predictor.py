"""Refit + predict on a background thread, newest request wins.

Label changes arrive faster than a refit can finish on a large project (a user
pressing 1, 1, 2 in quick succession).  One worker thread takes the latest
request; a request that arrives while it runs replaces any queued one and the
running job is told to stop early, so the UI always converges on the newest
labels after at most one extra refit.  NumPy releases the GIL inside matrix
products, so the UI thread keeps painting meanwhile.

On large projects a slower method (e.g. transductive) is preceded by an instant
ProtoNet pass flagged ``preview``: the label change is visible at once, then
refined when the chosen method finishes.
"""

from __future__ import annotations

import threading
import traceback

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.live_model import (
    INSTANT_METHOD,
    PREVIEW_MIN_ROWS,
    EmbeddingMatrix,
    PredictionState,
    fit_predict,
    project_confidence_factor,
    recalibrated,
)

from .relay import RelayedSignals


class LivePredictor(RelayedSignals, QObject):
    #: a PredictionState; delivered on the UI thread (queued connection)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple | None = None
        self._running_generation = -1
        self._stop = False
        self._factor = 1.0  # the last confidence factor (live_model.project_confidence_factor)
        self._relay = self.make_relay()  # the worker reports through it (app.relay says why)
        self._thread = threading.Thread(target=self._loop, name="fewlens-predictor", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or self._running_generation >= 0

    def request(self, generation: int, method: str, emb: EmbeddingMatrix, labels: np.ndarray,
                calibration: EmbeddingMatrix | None = None, method_kwargs: dict | None = None) -> None:
        """``calibration``: the pretrained matrix, passed when ``emb`` differs from it (a backbone
        adapted to the labeled images): the per-project confidence factor is then not fitted
        (live_model.project_confidence_factor says why)."""
        # Snapshot now: the "have" mask is copied; the data view stays valid because the
        # matrix replaces (never shrinks in place) its arrays when rows move.
        cal = calibration if calibration is not None and calibration is not emb else None
        snap = (generation, method, emb.data, emb.have.copy(), labels, emb.inv_norm,
                (cal.data, cal.have.copy()) if cal is not None else None, dict(method_kwargs or {}))
        with self._cond:
            self._pending = snap
            self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout=5)

    def _emit(self, name: str, value) -> None:
        self._relay.send(name, value)

    def _superseded(self) -> bool:
        return self._pending is not None or self._stop

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                generation, method, data, have, labels, inv_norm, cal, kwargs = self._pending
                self._pending = None
                self._running_generation = generation
            try:
                if method != INSTANT_METHOD and len(labels) >= PREVIEW_MIN_ROWS:
                    quick = fit_predict(INSTANT_METHOD, data, have, labels, generation,
                                        cancel=self._superseded, inv_norm=inv_norm)
                    if self._superseded():
                        continue
                    quick.preview = True
                    self._emit("finished", quick)
                state: PredictionState = fit_predict(method, data, have, labels, generation,
                                                     cancel=self._superseded, inv_norm=inv_norm,
                                                     method_kwargs=kwargs)
                if self._superseded():
                    continue
                # shown confidence calibrated on the labels (leave-one-out refits: up to ~1 s on a big
                # project), so the predictions go out at once with the last factor, flagged preview
                # ("Refining predictions…"), then with this label set's own factor
                quick = recalibrated(state, self._factor, labels)
                quick.preview = True
                self._emit("finished", quick)
                # "auto" already fitted its temperature by cross-validation on these labels
                factor = 1.0 if state.chosen is not None else project_confidence_factor(
                    method, data, have, labels, adapted=cal is not None, cancel=self._superseded)
                if self._superseded():
                    continue
                self._factor = factor
                self._emit("finished", recalibrated(state, factor, labels))
            except Exception as e:  # a method failing must not kill live updates
                traceback.print_exc()
                self._emit("failed", f"{method}: {e}")
            finally:
                with self._cond:
                    self._running_generation = -1
