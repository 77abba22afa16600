"""Thumbnails decoded off the UI thread, kept in a byte-bounded LRU cache.

The gallery delegate asks :meth:`ThumbnailLoader.get` while painting; a miss
returns ``None`` at once and queues a decode.  Requests are served newest
first and the queue is bounded, so fast scrolling through 100,000 images
decodes what is on screen now, not everything scrolled past.  Decoding uses
JPEG draft mode (DCT scaling), so a 12 MP photo costs a fraction of a full
decode.  Workers produce QImage (safe off the UI thread; QPixmap is not).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

#: a decode that failed (missing / corrupt file): remembered so it is not retried every paint
FAILED = QImage()


def pil_to_qimage(img: Image.Image) -> QImage:
    img = img.convert("RGB")
    data = img.tobytes("raw", "RGB")
    q = QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888)
    return q.copy()  # own the pixels; `data` dies with this frame


def load_thumbnail(path: Path, size: int) -> QImage:
    """Decode ``path`` to fit a size x size square (aspect kept)."""
    from core.images import load_image

    img = load_image(path, min_side=size)
    img.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return pil_to_qimage(img)


class _Signals(QObject):
    ready = Signal(int)  # image id


class _Worker(QRunnable):
    def __init__(self, loader: "ThumbnailLoader"):
        super().__init__()
        self.loader = loader
        self.setAutoDelete(True)

    def run(self) -> None:
        self.loader._drain()


class ThumbnailLoader(QObject):
    """``get(image_id, path) -> QImage | None``; emits ``ready(image_id)`` when decoded."""

    ready = Signal(int)

    def __init__(self, size: int = 160, budget_mb: int = 96, max_queue: int = 256, threads: int = 2,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.size = size
        self._budget = budget_mb * 1024 * 1024
        self._bytes = 0
        self._cache: OrderedDict[int, QImage] = OrderedDict()
        self._queue: deque[tuple[int, Path]] = deque()
        self._queued: set[int] = set()
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._active = 0
        self._threads = threads
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _Signals()
        self._signals.ready.connect(self.ready)

    # ---------------------------------------------------------------- UI thread
    def get(self, image_id: int, path: Path) -> QImage | None:
        with self._lock:
            img = self._cache.get(image_id)
            if img is not None:
                self._cache.move_to_end(image_id)
                return img
            if image_id not in self._queued:
                self._queue.append((image_id, path))
                self._queued.add(image_id)
                while len(self._queue) > self._max_queue:  # scrolled past: forget the oldest asks
                    old, _ = self._queue.popleft()
                    self._queued.discard(old)
            start = self._active < self._threads
            if start:
                self._active += 1
        if start:
            self._pool.start(_Worker(self))
        return None

    def set_size(self, size: int) -> None:
        """Change the thumbnail size (gallery zoom): cached thumbnails of the old size go."""
        if size != self.size:
            self.size = size
            self.invalidate()

    def invalidate(self, image_id: int | None = None) -> None:
        """Forget one thumbnail (file relinked) or all of them (project switched)."""
        with self._lock:
            if image_id is None:
                self._cache.clear()
                self._queue.clear()
                self._queued.clear()
                self._bytes = 0
                self._generation += 1
            else:
                img = self._cache.pop(image_id, None)
                if img is not None:
                    self._bytes -= img.sizeInBytes()

    def shutdown(self) -> None:
        with self._lock:
            self._queue.clear()
            self._queued.clear()
        self._pool.waitForDone(2000)

    # ---------------------------------------------------------------- worker threads
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._active -= 1
                    return
                image_id, path = self._queue.pop()  # newest request first: what is on screen now
                generation = self._generation
                size = self.size
            try:
                img = load_thumbnail(path, size)
            except Exception:
                img = FAILED
            with self._lock:
                self._queued.discard(image_id)
                if generation != self._generation:
                    continue
                self._cache[image_id] = img
                self._bytes += img.sizeInBytes()
                while self._bytes > self._budget and len(self._cache) > 1:
                    _, old = self._cache.popitem(last=False)
                    self._bytes -= old.sizeInBytes()
            self._signals.ready.emit(image_id)
