"""Files in, embeddings out: hash, look up the cache, decode misses in threads, embed in batches.

    result = embed_files(paths, Embedder("mobilenet_v2_imagenet"), cache=EmbeddingCache.default())
    result.embeddings[path]   # (D,) float32
    result.errors             # [ImageError, ...]: bad files, the batch went on without them

Threads, not processes: hashing (hashlib), JPEG/PNG decoding and resizing (PIL)
and ONNX Runtime all release the GIL, so a small pool overlaps reading and
decoding the next images with the embedder running on the current batch,
without pickling images between processes.  Each file is read once: the same
bytes are hashed and, on a cache miss, decoded.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embedding_cache import EmbeddingCache
from .errors import Cancelled, ImageError
from .images import load_image, read_and_hash

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass
class EmbedResult:
    embeddings: dict[Path, np.ndarray] = field(default_factory=dict)
    hashes: dict[Path, str] = field(default_factory=dict)
    errors: list[ImageError] = field(default_factory=list)
    #: how many files came from the cache / were run through the backbone (duplicates share one run)
    n_cached: int = 0
    n_computed: int = 0

    def matrix(self, paths: Sequence[os.PathLike | str]) -> np.ndarray:
        """Stack the embeddings of ``paths`` (all must have succeeded) into (N, D)."""
        if not paths:
            return np.zeros((0, 0), np.float32)
        return np.stack([self.embeddings[Path(p)] for p in paths]).astype(np.float32, copy=False)


def backbone_fingerprint(spec: Any) -> str:
    """What the cached vectors of a backbone id depend on: its weights and its preprocessing."""
    try:
        weights = spec.weights_id()
    except Exception:  # a backbone without a weights hash still gets its preprocessing checked
        weights = "?"
    parts = [weights, getattr(spec, "resize_size", None), getattr(spec, "input_size", None),
             tuple(getattr(spec, "mean", ()) or ()), tuple(getattr(spec, "std", ()) or ())]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _preprocessor(embedder: Any) -> Callable | None:
    """``core.preprocess.preprocess`` bound to the backbone, when the embedder takes ready tensors."""
    if not hasattr(embedder, "embed_batch"):
        return None
    try:
        from .preprocess import preprocess
    except ImportError:
        return None
    spec = embedder.spec
    return lambda img: preprocess(img, spec)


def embed_files(
    paths: Iterable[os.PathLike | str],
    embedder: Any,
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    batch_size: int = 32,
    workers: int | None = None,
) -> EmbedResult:
    """Embed every file in ``paths`` with ``embedder``, reusing and filling ``cache``.

    Bad files become entries of ``result.errors`` and the rest go on.
    ``progress(done, total)`` is called as files complete (cached, failed or embedded);
    ``cancel()`` returning True stops the work and raises :class:`Cancelled`
    (embeddings computed so far are already in the cache).
    """
    paths = list(dict.fromkeys(Path(p) for p in paths))
    total = len(paths)
    result = EmbedResult()
    if total == 0:
        return result
    spec = embedder.spec
    backbone_id = spec.id
    if cache is not None:
        cache.check_backbone(backbone_id, backbone_fingerprint(spec))
    min_side = int(getattr(spec, "resize_size", 256) or 256)
    prep = _preprocessor(embedder)
    workers = workers or min(4, (os.cpu_count() or 2))

    def load(path: Path):
        """Worker: read + hash once; on a cache miss decode (+ preprocess) from the same bytes."""
        try:
            data, digest = read_and_hash(path)
            if cache is not None:
                vec = cache.get(digest, backbone_id)
                if vec is not None:
                    return path, digest, vec, None
            img = load_image(path, min_side=min_side, data=data)
            return path, digest, None, (prep(img) if prep else img)
        except ImageError as e:
            return path, None, None, e

    done = 0
    batch: list[tuple[str, Any]] = []  # (hash, prepared input) awaiting the backbone
    waiting: dict[str, list[Path]] = {}  # hash -> paths sharing that content
    vectors: dict[str, np.ndarray] = {}  # computed this run, for duplicate files

    def report() -> None:
        if progress is not None:
            progress(done, total)

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        inputs = [x for _, x in batch]
        out = embedder.embed_batch(np.stack(inputs)) if prep else embedder.embed_images(inputs)
        out = np.asarray(out, dtype=np.float32)
        new = {}
        for (digest, _), vec in zip(batch, out):
            vec = np.array(vec, dtype=np.float32)  # own copy, not a view into the batch
            vectors[digest] = new[digest] = vec
            for p in waiting.pop(digest):
                result.embeddings[p] = vec
                done += 1
        result.n_computed += len(batch)
        batch.clear()
        if cache is not None:
            cache.put_many(backbone_id, new)
        report()

    def cancelled() -> bool:
        return cancel is not None and bool(cancel())

    # Bounded look-ahead: keep decoding ahead of the embedder without holding every image in memory.
    window = max(2 * batch_size, 4 * workers)
    todo = iter(paths)
    inflight: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fewlens-decode") as pool:
        try:
            for p in todo:
                inflight.append(pool.submit(load, p))
                if len(inflight) >= window:
                    break
            while inflight:
                if cancelled():
                    raise Cancelled("cancelled")
                path, digest, cached, item = inflight.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    inflight.append(pool.submit(load, nxt))
                if isinstance(item, ImageError):
                    result.errors.append(item)
                    done += 1
                    report()
                    continue
                result.hashes[path] = digest
                if cached is not None:
                    result.embeddings[path] = cached
                    result.n_cached += 1
                    done += 1
                    report()
                elif digest in vectors:  # same bytes as a file embedded earlier in this run
                    result.embeddings[path] = vectors[digest]
                    done += 1
                    report()
                elif digest in waiting:  # same bytes as a file already in the pending batch
                    waiting[digest].append(path)
                else:
                    waiting[digest] = [path]
                    batch.append((digest, item))
                    if len(batch) >= batch_size:
                        if cancelled():
                            raise Cancelled("cancelled")
                        flush()
            if cancelled():
                raise Cancelled("cancelled")
            flush()
        except BaseException:
            for f in inflight:
                f.cancel()
            raise
    return result


__all__ = ["EmbedResult", "backbone_fingerprint", "embed_files"]
