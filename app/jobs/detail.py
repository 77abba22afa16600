"""The detail view's full-size decode and the backbone's own guesses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal

from core.embedders import cached_embedder
from core.errors import ImageError

from .base import Job


# --------------------------------------------------------------------------- detail view
@dataclass
class DetailResult:
    image_id: int
    image: object  # QImage or None
    size: tuple[int, int] | None
    backbone_sees: list[tuple[str, float]]
    error: str | None = None


class DetailJob(Job):
    """Decode the selected image for the detail view and ask the backbone's own head."""

    title = "Loading image"
    loaded = Signal(object)  # DetailResult

    def __init__(self, image_id: int, path: Path, backbone: str, max_side: int = 1024):
        super().__init__()
        self.image_id = image_id
        self.path = path
        self.backbone = backbone
        self.max_side = max_side

    def run(self) -> None:
        from core.images import load_image

        from ..widgets.thumbnails import pil_to_qimage

        try:
            img = load_image(self.path, min_side=self.max_side)
        except ImageError as e:
            self.loaded.emit(DetailResult(self.image_id, None, None, [], e.reason))
            return
        size = img.size
        view = img.copy()
        view.thumbnail((self.max_side, self.max_side))
        qimg = pil_to_qimage(view)
        self.loaded.emit(DetailResult(self.image_id, qimg, size, []))
        if self.is_cancelled():
            return
        # "What the backbone sees": only when the model is already loaded (never stall on it).
        embedder = cached_embedder(self.backbone)
        if embedder is not None and hasattr(embedder, "classify"):
            try:
                sees = embedder.classify([img], k=3)[0]
            except Exception:
                sees = []
            self.loaded.emit(DetailResult(self.image_id, qimg, size, list(sees)))
