"""Try it's background job: predict photos that are not added to the project, with a Recognizer.

The recognizer is the session's (``ProjectSession.recognizer_snapshot()``: the gallery's fit, on
the features it uses) or a FewLens-exported model loaded with ``core.recognizer.Recognizer.load``;
either way the job only decodes, embeds and asks the recognizer (core owns the fit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from core.embedders import get_embedder, loading_text
from core.errors import Cancelled, ImageError

from .base import Job


@dataclass
class TryItResult:
    path: Path
    top: list[tuple[int, float]]  # (class id, probability), best first (a loaded model: column index)
    backbone_sees: list[tuple[str, float]]
    error: str | None = None
    thumb: object = None  # QImage, decoded on the worker


class TryItJob(Job):
    """Predict images that are not added to the project."""

    title = "Trying images"
    result = Signal(object)  # TryItResult, one per image as it is done

    def __init__(self, files: list[Path], backbone: str | None, recognizer: Callable[[], object]):
        super().__init__()
        self.files = files
        self.backbone = backbone  # None: a loaded model (its own backbone; no "backbone sees")
        self._recognizer = recognizer  # -> Recognizer, or None when nothing is labeled yet
        self.recognizer = None

    @property
    def method(self):
        """The fitted model predictions come from (None: nothing labeled yet)."""
        return self.recognizer

    def run(self) -> None:
        from core.images import load_image
        from core.pipeline import NON_FINITE_REASON

        from ..widgets.thumbnails import pil_to_qimage

        if self.backbone is not None:
            self.status.emit(loading_text(self.backbone))
        embedder = get_embedder(self.backbone) if self.backbone is not None else None
        rec = self.recognizer = self._recognizer()
        self.status.emit(f"Recognising {len(self.files)} image{'s' if len(self.files) != 1 else ''}…")
        for k, path in enumerate(self.files):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            try:
                img = load_image(path)
            except ImageError as e:
                self.result.emit(TryItResult(path, [], [], e.reason))
                continue
            top: list[tuple[int, float]] = []
            if rec is not None:
                vec = rec.embed_images([img])
                if not np.isfinite(vec).all():
                    self.result.emit(TryItResult(path, [], [], NON_FINITE_REASON))
                    continue
                probs = rec.predict_embeddings(vec).probs[0]
                ids = rec.class_ids
                top = [(int(ids[i]), float(probs[i])) for i in np.argsort(-probs)[:5]]
            sees = embedder.classify([img], k=3)[0] if embedder is not None and hasattr(embedder, "classify") else []
            small = img.copy()
            small.thumbnail((64, 64))
            self.result.emit(TryItResult(path, top, list(sees), thumb=pil_to_qimage(small)))
            self.progress.emit(k + 1, len(self.files))


__all__ = ["TryItJob", "TryItResult"]
