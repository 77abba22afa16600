"""Camera frames as labeled examples: saved into the project's folder, added, undoable as one step.

:class:`CaptureSaver` owns one worker thread: it writes each captured region as a JPEG next
to the project file (``<project> captures/<class>/``), hashes it and embeds it (through the
project's embedding cache, as an import does), then hands it back on the UI thread, where the
panel adds it to the session already labeled.  A hold of the capture button is one *batch*;
when its last frame is in, ``batchDone`` fires and the panel pushes one
:class:`CaptureCommand`, so a single Undo removes the whole hold (the files stay on disk:
nothing captured is ever deleted).
"""

from __future__ import annotations

import queue
import re
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.errors import FewLensError

from .relay import RelayedSignals
from .undo import _plural, _SessionCommand

JPEG_QUALITY = 92


@dataclass
class CaptureJob:
    batch: int
    image: np.ndarray  # HxWx3 uint8 RGB: the classified region
    class_id: int
    folder: Path
    backbone: str
    cache: object  # the project's embedding cache


@dataclass
class Captured:
    batch: int
    path: Path
    hash: str
    vec: np.ndarray | None  # None when the backbone could not embed it (added, embedded later)
    class_id: int


def capture_folder(project_path: Path, class_name: str) -> Path:
    """``<folder of the project>/<project name> captures/<class name>`` (name made file-safe)."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", class_name).strip(" .") or "class"
    return Path(project_path).parent / f"{Path(project_path).stem} captures" / safe


class CaptureSaver(RelayedSignals, QObject):
    saved = Signal(object)  # Captured
    failed = Signal(str)  # one line naming the file
    batchDone = Signal(int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._counter = 0
        self._relay = self.make_relay()  # the worker reports through it (app.relay says why)
        self._thread = threading.Thread(target=self._loop, name="fewlens-camera-capture", daemon=True)
        self._thread.start()

    def put(self, job: CaptureJob) -> None:
        self._queue.put(job)

    def end_batch(self, batch: int) -> None:
        self._queue.put(batch)

    def shutdown(self) -> None:
        """Finish what was captured (those files are the user's examples), then stop."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _emit(self, name: str, value) -> None:
        self._relay.send(name, value)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, int):
                self._emit("batchDone", item)
                continue
            try:
                self._emit("saved", self._save(item))
            except FewLensError as e:
                self._emit("failed", str(e))
            except OSError as e:
                self._emit("failed", f"{getattr(e, 'filename', None) or item.folder}: cannot save the frame "
                                        f"({e.strerror or e})")
            except Exception as e:  # never lose the worker (and with it every later capture)
                traceback.print_exc()
                self._emit("failed", f"{item.folder}: capture failed ({e})")

    def _save(self, job: CaptureJob) -> Captured:
        from PIL import Image

        from core.embedders import get_embedder
        from core.images import file_hash
        from core.pipeline import embed_files

        job.folder.mkdir(parents=True, exist_ok=True)
        self._counter += 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = job.folder / f"{stamp}-{int(time.time() * 1000) % 1000:03d}-{self._counter:04d}.jpg"
        Image.fromarray(job.image).save(path, quality=JPEG_QUALITY)
        h = file_hash(path)
        vec = None
        try:
            res = embed_files([path], get_embedder(job.backbone), cache=job.cache)
            vec = res.embeddings.get(path)
        except FewLensError:  # the backbone failed to load: the image is still added; embedded later
            traceback.print_exc()
        return Captured(job.batch, path, h, vec, job.class_id)


class CaptureCommand(_SessionCommand):
    """Images captured from the camera (already added when pushed): undo removes them all."""

    def __init__(self, session, image_ids: list[int], class_name: str):
        super().__init__(session, f"Capture {_plural(len(image_ids), 'image')} of {class_name}")
        self.image_ids = list(image_ids)
        self.removed = []

    def _redo(self, first: bool) -> None:
        if not first:
            self.session.restore_images(self.removed)

    def _undo(self) -> None:
        self.removed = self.session.remove_images(self.image_ids)
