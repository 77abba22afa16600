"""Try it: predict images that are not in the project."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.embedders import get_embedder, loading_text
from core.errors import Cancelled, ImageError

from .base import Job


# --------------------------------------------------------------------------- try it
@dataclass
class TryItResult:
    path: Path
    top: list[tuple[int, float]]  # (class id, probability), best first
    backbone_sees: list[tuple[str, float]]
    error: str | None = None
    thumb: object = None  # QImage, decoded on the worker


class TryItJob(Job):
    """Predict images that are not added to the project."""

    title = "Trying images"
    result = Signal(object)  # TryItResult, one per image as it is done

    def __init__(self, files: list[Path], backbone: str, fit: Callable[[], object], parent: QObject | None = None,
                 features=None):
        super().__init__(parent)
        self.files = files
        self.backbone = backbone
        self._fit = fit  # -> a fitted FewShotMethod on a snapshot of the project, or None
        # what embeds the photos for the method (the backbone adapted to the labels, when the
        # project's predictions use it); None = the pretrained embedder
        self.features = features
        self.method = None

    def run(self) -> None:
        from core.images import load_image

        from ..widgets.thumbnails import pil_to_qimage

        self.status.emit(loading_text(self.backbone))
        embedder = get_embedder(self.backbone)
        self.method = self._fit()
        self.status.emit(f"Recognising {len(self.files)} image{'s' if len(self.files) != 1 else ''}…")
        for k, path in enumerate(self.files):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            try:
                img = load_image(path)
            except ImageError as e:
                self.result.emit(TryItResult(path, [], [], e.reason))
                continue
            vec = (self.features or embedder).embed_images([img])
            if not np.isfinite(vec).all():
                from core.pipeline import NON_FINITE_REASON

                self.result.emit(TryItResult(path, [], [], NON_FINITE_REASON))
                continue
            top: list[tuple[int, float]] = []
            if self.method is not None:
                probs = self.method.predict_proba(vec)[0]
                order = np.argsort(-probs)[:5]
                top = [(int(self.method.classes_[i]), float(probs[i])) for i in order]
            sees = embedder.classify([img], k=3)[0] if hasattr(embedder, "classify") else []
            small = img.copy()
            small.thumbnail((64, 64))
            self.result.emit(TryItResult(path, top, list(sees), thumb=pil_to_qimage(small)))
            self.progress.emit(k + 1, len(self.files))
