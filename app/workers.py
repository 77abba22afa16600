"""Background jobs: everything that touches the disk or runs the backbone.

Each job is a QObject living on the UI thread whose ``run()`` executes on a
QThreadPool thread and talks back only through signals (queued onto the UI
thread), so widgets are never touched off the UI thread.  Jobs check
``cancelled`` between small batches; cancelling keeps what already finished
(imported images stay imported).
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import Cancelled, FewLensError, ImageError

#: Files per chunk handed back to the UI: small enough that tiles and predictions
#: appear while a big folder is still importing, big enough to batch the backbone.
CHUNK = 64

#: Cached vectors handed to the UI per chunk when a project opens: each chunk is copied into
#: the embedding matrix on the UI thread, so it stays small (500 x 1280 floats = 2.5 MB).
CACHE_CHUNK = 500

# Names a file manager leaves in photo folders; not worth reporting as "not an image".
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", "icon\r"}


# --------------------------------------------------------------------------- embedders
_embedders: dict[str, object] = {}
_embedders_lock = threading.Lock()


def get_embedder(backbone: str):
    """One Embedder per backbone for the whole app (building one exports / loads ONNX)."""
    with _embedders_lock:
        emb = _embedders.get(backbone)
        if emb is None:
            from core.embedder import Embedder

            emb = _embedders[backbone] = Embedder(backbone)
        return emb


def cached_embedder(backbone: str):
    """The embedder if it is already built (never blocks to build one)."""
    return _embedders.get(backbone)


# --------------------------------------------------------------------------- job base

def loading_text(backbone: str) -> str:
    """What the wait is for: a first start converts the model (tens of seconds, once)."""
    try:
        from core.backbones import get_backbone
        from core.backbones.onnx_export import onnx_path_for

        onnx_path_for(get_backbone(backbone), export=False)
    except Exception:  # noqa: BLE001 - not converted yet (or a user model): say the long version
        return "Preparing the recognition model for its first use (about 20 s, once)…"
    return "Loading the recognition model…"

class _Runner(QRunnable):
    def __init__(self, job: "Job"):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._execute()


class Job(QObject):
    """A cancellable background task with progress."""

    progress = Signal(int, int)  # done, total
    status = Signal(str)  # what it is doing now, for the task banner
    finished = Signal(object)  # the job itself (read .cancelled, .error, .errors)

    title = "Working"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self.cancelled = False
        self.error: str | None = None
        self.errors: list[ImageError] = []
        self.running = False

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self, pool: QThreadPool | None = None) -> None:
        self.running = True
        (pool or QThreadPool.globalInstance()).start(_Runner(self))

    def _execute(self) -> None:
        try:
            self.run()
        except Cancelled:
            self.cancelled = True
        except FewLensError as e:
            self.error = str(e)
        except Exception as e:  # a bug: one line naming the crash report, never crash the app
            from core.crash import report_crash

            self.error = report_crash(e, f"background job: {self.title}")
        except MemoryError:
            self.error = f"{self.title}: out of memory"
        if self._cancel.is_set():
            self.cancelled = True
        self.running = False
        self.finished.emit(self)

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- scanning
@dataclass
class ImportPlan:
    """What a drop or "Add folder" will import."""

    sources: list[Path]
    use_subfolder_labels: bool = False

    def class_name_of(self, path: Path) -> str | None:
        """The top-level subfolder name under the dropped folder, when labels were accepted."""
        if not self.use_subfolder_labels:
            return None
        for root in self.sources:
            try:
                rel = path.relative_to(root)
            except ValueError:
                continue
            if len(rel.parts) >= 2:
                return rel.parts[0]
        return None


def subfolder_names(sources: Sequence[Path]) -> list[str]:
    """Immediate subfolders of dropped folders that hold files (candidate class names)."""
    from core.walk import class_folders

    names: list[str] = []
    for src in sources:
        if not src.is_dir():
            continue
        # one unreadable entry (a link loop) costs that entry, not the question
        for d in class_folders(src)[0]:
            if d.name not in names:
                names.append(d.name)
    return names


def scan_sources(sources: Sequence[Path], cancel: Callable[[], bool] | None = None) -> tuple[list[Path], list[ImageError]]:
    """Expand dropped files/folders: image files to import, and the other files as
    "not an image" reports (hidden files and OS clutter are skipped silently)."""
    from core.images import is_image_path

    images: list[Path] = []
    rejects: list[ImageError] = []
    seen: set[Path] = set()

    def consider(p: Path) -> None:
        if p in seen:
            return
        seen.add(p)
        if is_image_path(p):
            images.append(p)
        else:
            suffix = p.suffix or "no extension"
            rejects.append(ImageError(p, f"not an image file ({suffix}); skipped"))

    for src in map(Path, sources):
        if src.is_dir():
            from core.walk import walk_files

            # the CLI's walk: folder links followed once, never back into the tree (no duplicates)
            for f in walk_files(src):
                if cancel is not None and cancel():
                    raise Cancelled("import cancelled")
                if f.name.lower() in _IGNORED_NAMES:
                    continue
                consider(f)
        elif os.path.lexists(src):
            # An explicitly dropped file is tried whatever its name: the loader says if it is not an
            # image, or names what is wrong with it (a link loop, a pipe).
            if src not in seen:
                seen.add(src)
                images.append(src)
        else:
            from core.walk import link_problem

            rejects.append(ImageError(src, link_problem(src) or "file not found"))
    return images, rejects


# --------------------------------------------------------------------------- caches
class LayeredCache:
    """The project's embedding cache first, then the user-wide one (shared with the CLI and
    every other project): photos embedded once are never run through the backbone again.
    Vectors found only in the user cache are copied into the project, so a project file stays
    self-contained.  Use from one thread (each job builds its own)."""

    def __init__(self, project_cache, user_cache=None):
        self.project = project_cache
        self._user = user_cache
        self._user_failed = False

    @property
    def user(self):
        if self._user is None and not self._user_failed:
            try:
                from core.embedding_cache import EmbeddingCache

                self._user = EmbeddingCache.default()
            except Exception:  # a convenience only: never fail an import over it
                traceback.print_exc()
                self._user_failed = True
        return self._user

    def check_backbone(self, backbone_id: str, fingerprint: str) -> None:
        """Drop vectors made by other weights under this id (both caches)."""
        for cache in (self.project, self.user):
            check = getattr(cache, "check_backbone", None)
            if check is not None:
                check(backbone_id, fingerprint)

    def get_many(self, hashes, backbone_id: str) -> dict:
        hashes = list(hashes)
        found = self.project.get_many(hashes, backbone_id)
        missing = [h for h in hashes if h not in found]
        if missing and self.user is not None:
            more = self.user.get_many(missing, backbone_id)
            if more:
                self.project.put_many(backbone_id, more)
                found.update(more)
        return found

    def close(self) -> None:
        if self._user is not None:
            self._user.close()
            self._user = None

    def put_many(self, backbone_id: str, vecs) -> None:
        self.project.put_many(backbone_id, vecs)
        if self.user is not None:
            try:
                self.user.put_many(backbone_id, vecs)
            except Exception:
                traceback.print_exc()


def check_cached_weights(cache, backbone: str) -> None:
    """Cached vectors are only valid for the weights that made them (core.pipeline does the
    same check before embedding); run it before reading cached vectors directly."""
    check = getattr(cache, "check_backbone", None)
    if check is None:
        return
    from core.backbones import get_backbone
    from core.pipeline import backbone_fingerprint

    check(backbone, backbone_fingerprint(get_backbone(backbone)))


# --------------------------------------------------------------------------- embedding jobs
@dataclass
class EmbeddedChunk:
    paths: list[Path]
    hashes: list[str]
    vecs: np.ndarray  # (len(paths), D)
    class_names: list[str | None] = field(default_factory=list)


class _EmbeddingJob(Job):
    chunk = Signal(object)  # EmbeddedChunk
    device = Signal(str)  # the embedder's device label, once it is loaded

    def __init__(self, backbone: str, cache, parent: QObject | None = None):
        super().__init__(parent)
        self.backbone = backbone
        # the project's cache, layered over the user-wide one (built on the worker thread)
        self._project_cache = cache
        self.cache = None

    def _execute(self) -> None:
        if self._project_cache is not None:
            self.cache = LayeredCache(self._project_cache)
        try:
            super()._execute()
        finally:
            if self.cache is not None:
                self.cache.close()

    def _embedder(self):
        if cached_embedder(self.backbone) is None:
            self.status.emit(loading_text(self.backbone))
        emb = get_embedder(self.backbone)
        self.device.emit(getattr(emb, "device_label", ""))
        return emb

    def _embed(self, files: list[Path], done_before: int, total: int, label_of=None) -> int:
        """Embed ``files`` in chunks (cache first), emitting each chunk; returns files done."""
        from core.pipeline import embed_files

        embedder = self._embedder()
        done = 0
        for start in range(0, len(files), CHUNK):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            part = files[start : start + CHUNK]
            base = done_before + done

            def progress(d: int, _t: int, base=base) -> None:
                self.progress.emit(base + d, total)

            res = embed_files(part, embedder, cache=self.cache, progress=progress, cancel=self.is_cancelled)
            self.errors.extend(res.errors)
            ok = [p for p in part if p in res.embeddings]
            if ok:
                self.chunk.emit(
                    EmbeddedChunk(
                        ok,
                        [res.hashes[p] for p in ok],
                        np.stack([res.embeddings[p] for p in ok]).astype(np.float32),
                        [label_of(p) for p in ok] if label_of else [None] * len(ok),
                    )
                )
            done += len(part)
            self.progress.emit(done_before + done, total)
        return done


class ImportJob(_EmbeddingJob):
    """Scan dropped files/folders, embed the images, hand them back chunk by chunk."""

    title = "Importing"

    def __init__(self, plan: ImportPlan, backbone: str, cache, parent: QObject | None = None):
        super().__init__(backbone, cache, parent)
        self.plan = plan
        self.total = 0  # image files found
        self.rejects: list[ImageError] = []  # files skipped before decoding (not images)

    @property
    def imported(self) -> int:
        """Image files that made it in (those that failed to decode are in ``errors`` too)."""
        return max(0, self.total - (len(self.errors) - len(self.rejects)))

    def run(self) -> None:
        self.status.emit("Looking for images…")
        files, self.rejects = scan_sources(self.plan.sources, self.is_cancelled)
        self.errors.extend(self.rejects)
        self.total = len(files)
        self.progress.emit(0, self.total)
        if not files:
            return
        self.status.emit(f"Importing {len(files):,} images…")
        self._embed(files, 0, len(files), self.plan.class_name_of)


class EmbedMissingJob(_EmbeddingJob):
    """Embeddings for images already in the project: cached vectors first, then the rest."""

    title = "Embedding"

    def __init__(self, items: list[tuple[str, str]], backbone: str, cache, parent: QObject | None = None):
        super().__init__(backbone, cache, parent)
        self.items = items  # (file path, content hash); paths stay strings until a file must be read

    def run(self) -> None:
        total = len(self.items)
        self.status.emit("Loading embeddings…")
        if self.cache is not None:
            check_cached_weights(self.cache, self.backbone)
        misses: list[Path] = []
        done = 0
        for start in range(0, total, CACHE_CHUNK):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            part = self.items[start : start + CACHE_CHUNK]
            found = self.cache.get_many([h for _, h in part], self.backbone) if self.cache is not None else {}
            hits = [(p, h) for p, h in part if h in found]
            misses += [Path(p) for p, h in part if h not in found]
            if hits:
                self.chunk.emit(
                    EmbeddedChunk([p for p, _ in hits], [h for _, h in hits], np.stack([found[h] for _, h in hits]))
                )
                done += len(hits)
                self.progress.emit(done, total)
        if misses:
            self.status.emit(f"Embedding {len(misses):,} images…")
            self._embed(misses, done, total)


def backbone_choices() -> list[tuple[str, str]]:
    """(id, title) of every registered backbone; empty when the registry is unavailable."""
    try:
        from core.backbones import list_backbones

        return [(b.id, getattr(b, "title", b.id)) for b in list_backbones()]
    except Exception:
        traceback.print_exc()
        return []


def backbone_tooltip(spec) -> str:
    """What the picker shows on hover: the title, input, provenance and license of a backbone."""
    lines = [spec.title, spec.id,
             f"Input {spec.input_size}x{spec.input_size}, {spec.normalization()}; {spec.embed_dim}-d features",
             f"Source: {spec.source}", f"License: {spec.license}"]
    return "\n".join(lines)


class BackboneListJob(Job):
    """Read the backbone registry (meta-trained entries load their checkpoints)."""

    title = "Listing backbones"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.choices: list[tuple[str, str]] = []
        self.tooltips: dict[str, str] = {}

    def run(self) -> None:
        self.choices = backbone_choices()
        try:
            from core.backbones import list_backbones

            self.tooltips = {s.id: backbone_tooltip(s) for s in list_backbones()}
        except Exception:  # tooltips are a nicety: the plain list above still fills the picker
            traceback.print_exc()


class OpenProjectJob(Job):
    """Open a project file and read its image table off the UI thread."""

    title = "Opening project"

    def __init__(self, path: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.path = Path(path)
        self.project = None
        self.rows = None
        self.damaged = False  # the file is a damaged project: recovery can be offered

    def run(self) -> None:
        from core.project import Project

        self.status.emit(f"Opening {self.path.name}…")
        try:
            project = Project.open_any(self.path)  # read-only files open read-only
        except FewLensError as e:
            self.damaged = bool(getattr(e, "damaged", False))
            raise
        self._read(project)

    def _read(self, project) -> None:
        """Keep ``project`` with its image table, or close it if reading fails."""
        from .session import read_project_rows

        self.project = project
        try:
            self.rows = read_project_rows(project)
        except FewLensError as e:
            self.damaged = bool(getattr(e, "damaged", False))
            project.close()
            self.project = None
            raise
        except BaseException:
            project.close()
            self.project = None
            raise


class SaveAsJob(OpenProjectJob):
    """Copy the open project to a new file (SQLite backup: consistent even while it changes),
    then read the copy, which the window switches to."""

    title = "Saving a copy"

    def __init__(self, source, path: Path, parent: QObject | None = None):
        super().__init__(path, parent)
        self.source = source  # the open core.project.Project

    def run(self) -> None:
        self.status.emit(f"Saving {self.path.name}…")
        self._read(self.source.save_as(self.path, overwrite=True))


class LocateJob(Job):
    """Relink missing files under a folder by content hash."""

    title = "Locating missing files"
    relinked = Signal(int)

    def __init__(self, session, folder: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.folder = folder
        self.count = 0

    def run(self) -> None:
        self.status.emit(f"Looking in {self.folder}…")
        self.count = self.session.relocate(self.folder, progress=lambda d, t: self.progress.emit(d, t))


# Try it's job: app/try_it_job.py (it predicts through the session's Recognizer)


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

    def __init__(self, image_id: int, path: Path, backbone: str, max_side: int = 1024, parent: QObject | None = None):
        super().__init__(parent)
        self.image_id = image_id
        self.path = path
        self.backbone = backbone
        self.max_side = max_side

    def run(self) -> None:
        from core.images import load_image

        from .thumbnails import pil_to_qimage

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
