"""Adapting the backbone to the labeled images, then re-embedding every row with it (app/adapter.py starts it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from core.adapted_features import MAX_CENTER_ROWS, AdaptedFeatures, AdaptRequest, training_rows
from core.errors import Cancelled, ImageError
from core.live_model import EmbeddingMatrix

from .base import Job


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

    def run(self) -> None:
        import time

        from core.adaptation import AdaptationSettings, adapt_backbone, should_adapt
        from core.images import load_image
        from core.pipeline import embed_files

        t0 = time.perf_counter()
        r = self.request
        settings = r.settings or AdaptationSettings()
        train_rows = training_rows(r.labels, r.missing)
        embed_rows = np.flatnonzero(~r.missing)
        n_train = len(train_rows)
        # one bar for the three phases: decode labeled, adapt (views + steps), re-embed all
        total = 2 * n_train + settings.steps + len(embed_rows)
        self.status.emit("Adapting the model to your labels…")
        self.progress.emit(0, total)

        images, labels = [], []
        for k, row in enumerate(train_rows):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            try:
                images.append(load_image(r.files[row], min_side=256))
                labels.append(int(r.labels[row]))
            except ImageError as e:  # named in the report, never fatal
                self.errors.append(e)
            self.progress.emit(k + 1, total)
        if not should_adapt(labels, r.backbone):
            self.skipped = "too few readable labeled images to adapt the model"
            return

        device = self._device()
        if device == "cpu":
            _leave_a_core_free()
        base = n_train

        def adapt_progress(done: int, _t: int) -> None:
            self.progress.emit(base + done, total)

        adapted = adapt_backbone(r.backbone, images, labels, center_embeddings=self._center(),
                                 settings=settings, device=device, progress=adapt_progress,
                                 cancel=self.is_cancelled)
        del images  # decoded photos are not needed for re-embedding (it decodes at its own size)

        self.status.emit(f"Re-analysing {len(embed_rows):,} images with the adapted model…")
        base = n_train + n_train + settings.steps
        paths = [r.files[row] for row in embed_rows]

        def embed_progress(done: int, _t: int) -> None:
            self.progress.emit(base + done, total)

        res = embed_files(paths, adapted, cache=None, progress=embed_progress, cancel=self.is_cancelled)
        reported = {str(e.path) for e in self.errors}  # an unreadable labeled photo is named once
        self.errors.extend(e for e in res.errors if str(e.path) not in reported)
        matrix = EmbeddingMatrix()
        matrix.resize(len(r.ids))
        unreadable = r.missing.copy()  # no adapted vector can be made for them either
        got_rows, vecs = [], []
        for row, p in zip(embed_rows, paths):
            vec = res.embeddings.get(Path(p))
            if vec is None:
                unreadable[row] = True
            else:
                got_rows.append(row)
                vecs.append(vec)
        if vecs:
            matrix.set_rows(np.asarray(got_rows, np.int64), np.stack(vecs))
        self.result = AdaptedFeatures(r.backbone, r.ids, r.key, len(labels), adapted.fingerprint, matrix,
                                      unreadable, device, time.perf_counter() - t0, network=adapted,
                                      labels=r.labels.copy())

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




def _leave_a_core_free() -> None:
    """Torch on the CPU: one thread fewer than the cores, so the UI thread, the predictor and
    the decoders keep a core.  With torch's default (every core) the sample project's
    adaptation took 107 s instead of 26 s on the 2-core build box with one core busy
    elsewhere (OpenMP threads spinning against each other), and the UI stalled longer."""
    import torch

    from core.ort import default_threads

    torch.set_num_threads(max(1, default_threads() - 1))
