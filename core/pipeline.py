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
NON_FINITE_REASON = "the backbone gave a non-finite embedding (NaN or Inf) for this image; left out"
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
    try:  # core.preprocess may declare a version to bump when its pixels change for the same spec
        from . import preprocess as _pre

        pre_version = str(getattr(_pre, "PREPROCESS_VERSION", ""))
    except ImportError:
        pre_version = ""
    parts = [weights, getattr(spec, "resize_size", None), getattr(spec, "input_size", None),
             tuple(getattr(spec, "mean", ()) or ()), tuple(getattr(spec, "std", ()) or ()), pre_version]
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
    check = getattr(cache, "check_backbone", None)  # a project's cache view may not track weights
    if check is not None:
        check(backbone_id, backbone_fingerprint(spec))
    min_side = int(getattr(spec, "resize_size", 256) or 256)
    prep = _preprocessor(embedder)
    # Decoding big photos is the slow stage (a 12 MP JPEG costs ~10x the network on CPU), so use
    # most cores, leaving one for the embedder / UI; 2 at least so reading overlaps decoding.
    workers = workers or min(8, max(2, (os.cpu_count() or 2) - 1))

    # Worker tasks.  Cache lookups stay on the calling thread: a project's cache keeps one
    # SQLite connection per thread, and pool threads are short-lived.
    def read(path: Path):
        try:
            data, digest = read_and_hash(path)
            return path, digest, data, None
        except ImageError as e:
            return path, None, None, e
        except (OSError, MemoryError) as e:
            return path, None, None, ImageError(path, f"cannot read file ({type(e).__name__}: {e})")

    def decode(path: Path, digest: str, data: bytes | None):
        try:
            img = load_image(path, min_side=min_side, data=data)
            return path, digest, (prep(img) if prep else img), None
        except ImageError as e:
            return path, digest, None, e
        except MemoryError:
            return path, digest, None, ImageError(path, "image too large (out of memory while preparing it)")
        except Exception as e:  # a decoder bug on one odd file must cost that file, not the batch
            return path, digest, None, ImageError(path, f"cannot prepare the image ({type(e).__name__}: {e})")

    done = 0
    batch: list[tuple[str, Any]] = []  # (hash, prepared input) awaiting the backbone
    waiting: dict[str, list[Path]] = {}  # hash -> paths sharing that content, until embedded
    vectors: dict[str, np.ndarray] = {}  # computed this run, for duplicate files

    def report() -> None:
        if progress is not None:
            progress(done, total)

    def fail(err: ImageError, paths_: list[Path]) -> None:
        nonlocal done
        for p in paths_:
            result.errors.append(err if Path(err.path) == p else ImageError(p, err.reason))
            result.hashes.pop(p, None)
            done += 1
        report()

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        inputs = [x for _, x in batch]
        out = embedder.embed_batch(np.stack(inputs)) if prep else embedder.embed_images(inputs)
        out = np.asarray(out, dtype=np.float32)
        finite = np.isfinite(out).all(axis=1)
        new = {}
        for (digest, _), vec, ok in zip(batch, out, finite):
            if not ok:  # NaN/Inf would print "nan%" and poison every prototype: never use or cache it
                paths_ = waiting.pop(digest)
                fail(ImageError(paths_[0], NON_FINITE_REASON), paths_)
                continue
            vec = np.array(vec, dtype=np.float32)  # own copy, not a view into the batch
            vectors[digest] = new[digest] = vec
            for p in waiting.pop(digest):
                result.embeddings[p] = vec
                done += 1
        result.n_computed += int(finite.sum())
        batch.clear()
        if cache is not None:
            cache.put_many(backbone_id, new)
        report()

    def check_cancel() -> None:
        if cancel is not None and cancel():
            raise Cancelled("cancelled")

    # Bounded look-ahead on both stages: reading runs ahead of decoding and decoding ahead of
    # the embedder, but a pending decode holds a file's bytes (~4 MB for a phone photo), so the
    # windows scale with the threads, not with the batch (256 on a GPU): decoded inputs
    # accumulate in the batch instead.
    read_window = 2 * workers + 2
    decode_window = 4 * workers + 2
    todo = iter(paths)
    reading: deque[Future] = deque()
    decoding: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fewlens-decode") as pool:

        def refill() -> None:
            while len(reading) < read_window:
                nxt = next(todo, None)
                if nxt is None:
                    return
                reading.append(pool.submit(read, nxt))

        try:
            refill()
            while reading or decoding:
                check_cancel()
                if decoding and (decoding[0].done() or len(decoding) >= decode_window or not reading):
                    path, digest, item, err = decoding.popleft().result()
                    if err is not None:
                        fail(err, waiting.pop(digest))
                        continue
                    batch.append((digest, item))
                    if len(batch) >= batch_size:
                        check_cancel()
                        flush()
                    continue
                path, digest, data, err = reading.popleft().result()
                refill()
                if err is not None:
                    fail(err, [path])
                    continue
                result.hashes[path] = digest
                if digest in vectors:  # same bytes as a file embedded earlier in this run
                    result.embeddings[path] = vectors[digest]
                    done += 1
                    report()
                    continue
                if digest in waiting:  # same bytes as a file being decoded / in the batch
                    waiting[digest].append(path)
                    continue
                cached = cache.get_many([digest], backbone_id).get(digest) if cache is not None else None
                if cached is not None and not np.isfinite(cached).all():
                    cached = None  # written by an older FewLens: recompute (and fail by name if still bad)
                if cached is not None:
                    result.embeddings[path] = vectors[digest] = np.asarray(cached, dtype=np.float32)
                    result.n_cached += 1
                    done += 1
                    report()
                    continue
                waiting[digest] = [path]
                decoding.append(pool.submit(decode, path, digest, data))
            check_cancel()
            flush()
        except BaseException:
            for f in (*reading, *decoding):
                f.cancel()
            raise
    return result


__all__ = ["EmbedResult", "backbone_fingerprint", "embed_files"]
