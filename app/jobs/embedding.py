"""Importing images and embedding what is missing (the frozen backbone, through the layered cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from core.embedders import cached_embedder, get_embedder, loading_text
from core.errors import Cancelled, ImageError
from core.images import scan_sources
from core.layered_cache import LayeredCache, check_cached_weights

from .base import Job

#: Files per chunk handed back to the UI: small enough that tiles and predictions
#: appear while a big folder is still importing, big enough to batch the backbone.
CHUNK = 64

#: Cached vectors handed to the UI per chunk when a project opens: each chunk is copied into
#: the embedding matrix on the UI thread, so it stays small (500 x 1280 floats = 2.5 MB).
CACHE_CHUNK = 500


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

    def __init__(self, backbone: str, cache):
        super().__init__()
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

    def __init__(self, plan: ImportPlan, backbone: str, cache):
        super().__init__(backbone, cache)
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

    def __init__(self, items: list[tuple[str, str]], backbone: str, cache):
        super().__init__(backbone, cache)
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
