"""Adapting the backbone to the labeled images, then re-embedding every row with it (app/adapter.py starts it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.adapted_features import MAX_CENTER_ROWS, AdaptedFeatures, AdaptRequest, training_rows
from core.live_model import UNLABELED, EmbeddingMatrix

from .base import Job


class AdaptJob(Job):
    """Adapt the backbone to the labeled images, then re-embed every row with it."""

    title = "Adapting the model to your labels"

    def __init__(self, request: AdaptRequest):
        super().__init__()
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
        train_rows = training_rows(r.labels, r.missing)
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
                            [int(r.labels[row]) for row in train_rows], paths, center_embeddings=self._center(),
                            settings=settings, device=device, progress=progress, cancel=self.is_cancelled,
                            need_min_shots=True)
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

    def __init__(self, project, key: str, backbone: str, ids: np.ndarray, labels: np.ndarray):
        super().__init__()
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
        from core.adaptation import needs_readaptation

        t0 = time.perf_counter()
        self.status.emit("Loading the model adapted to your labels…")
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


def _leave_a_core_free() -> None:
    """Torch on the CPU: one thread fewer than the cores, so the UI thread, the predictor and
    the decoders keep a core.  With torch's default (every core) the sample project's
    adaptation took 107 s instead of 26 s on the 2-core build box with one core busy
    elsewhere (OpenMP threads spinning against each other), and the UI stalled longer."""
    import torch

    from core.ort import default_threads

    torch.set_num_threads(max(1, default_threads() - 1))
