"""Streaming batch prediction: files in, CSV rows out, in bounded memory.

    predictor = MethodPredictor.fit(...)            # or OnnxPredictor("model.onnx"), see core.batch_predictors
    summary = predict_to_csv(iter_image_files(["photos/"]), predictor, "out.csv", resume=True)

A million files never become a million of anything in memory: paths come from a lazy directory
walk, at most ``window`` files are in flight (read -> cache lookup -> decode -> batch -> head),
and each finished row is written (and flushed) as soon as every row before it is done, so the
CSV is always a prefix of the final file.  That makes ``resume`` exact: skip the paths already
in the file, drop a torn last line, append the rest; a resumed run writes the same bytes as an
uninterrupted one because rows come out in input order and each row depends only on its file.

Threads, not processes, as in core.pipeline: hashing, PIL decoding and ONNX Runtime release the
GIL.  Unreadable files are rows too (with ``error`` set) and are reported through ``on_error``;
they never stop the run.

The predictor interface (duck-typed, see core.batch_predictors for the two implementations)::

    backbone: str, method: str, classes: list[str], threshold: float
    cache_id: str | None, fingerprint: str | None  # embed() outputs cached under cache_id
    min_side: int                                   # decode JPEGs at least this big
    prepare(img: PIL.Image) -> np.ndarray           # one image -> one model input
    embed(batch: np.ndarray) -> np.ndarray          # stacked inputs -> (N, D) vectors
    head(vectors: np.ndarray) -> np.ndarray         # (N, D) -> (N, C) probabilities
"""

from __future__ import annotations

import csv
import hashlib
import os
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Cancelled, FewLensError, ImageError
from .images import is_image_path, load_image, read_and_hash

ProgressFn = Callable[[int, int | None], None]
CancelFn = Callable[[], bool]
ErrorFn = Callable[[ImageError], None]

DEFAULT_TOP_K = 3
# Errors kept in the returned summary (all of them are rows of the CSV either way).
MAX_LISTED_ERRORS = 1000


# --------------------------------------------------------------------------- file walking
def iter_image_files(paths: Iterable[os.PathLike | str], recursive: bool = True) -> Iterator[Path]:
    """Like core.images.find_images, but lazy: one folder's listing in memory at a time.

    Order is deterministic (each folder's entries sorted by name, files before subfolders), which
    resume relies on.  Files named explicitly are yielded whatever their extension (the loader
    says if they are not images); hidden files and folders are skipped.  A path that does not
    exist raises ImageError.
    """
    for p in map(Path, paths):
        if p.is_dir():
            yield from _walk(p, recursive)
        elif p.exists():
            yield p
        else:
            raise ImageError(p, "file not found")


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    try:
        with os.scandir(folder) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=True)) for e in it if not e.name.startswith("."))
    except OSError:
        return  # an unreadable subfolder: nothing to predict there
    subdirs = []
    for name, is_dir in entries:
        if is_dir:
            subdirs.append(name)
        elif is_image_path(name):
            yield folder / name
    if recursive:
        for name in subdirs:
            yield from _walk(folder / name, recursive)


def count_image_files(paths: Iterable[os.PathLike | str], recursive: bool = True) -> int:
    """How many files iter_image_files yields (for a progress total), without keeping them."""
    return sum(1 for _ in iter_image_files(paths, recursive))


# --------------------------------------------------------------------------- CSV layout
def csv_header(top_k: int) -> list[str]:
    cols = ["path", "top_class", "confidence", "unknown"]
    for i in range(1, top_k + 1):
        cols += [f"class_{i}", f"prob_{i}"]
    return cols + ["backbone", "method", "error"]


def format_row(path: str, probs: np.ndarray, classes: list[str], threshold: float, k: int, backbone: str,
               method: str) -> list[str]:
    """One prediction as CSV cells (core.distributed writes the same cells)."""
    order = np.argsort(-probs, kind="stable")[:k]
    conf = float(probs[order[0]])
    row = [path, classes[order[0]], f"{conf:.4f}", "1" if conf < threshold else "0"]
    for j in order:
        row += [classes[j], f"{float(probs[j]):.4f}"]
    return row + [backbone, method, ""]


def format_error_row(path: str, reason: str, k: int, backbone: str, method: str) -> list[str]:
    return [path, "", "", "", *([""] * (2 * k)), backbone, method, reason]


class DonePaths:
    """The paths already in an output CSV, as sorted 64-bit digests: 8 bytes a row, not the row.

    A million-row file was a million Python strings in a set (~150 MB); this is 8 MB.  Two paths
    sharing a 64-bit BLAKE2b digest would make resume skip one of them: at a million rows the
    chance is about 1 in 10^7 per run.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: np.ndarray):
        self._keys = np.sort(keys.astype(np.uint64, copy=False))

    @staticmethod
    def key(path: str) -> int:
        return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")

    def __contains__(self, path: str) -> bool:
        k = np.uint64(self.key(path))
        i = int(np.searchsorted(self._keys, k))
        return i < len(self._keys) and self._keys[i] == k

    def __len__(self) -> int:
        return len(self._keys)

    def __bool__(self) -> bool:
        return len(self._keys) > 0


def _drop_torn_row(f) -> int:
    """Cut a partial last row (the run was killed mid-write) off the open binary file; its new size."""
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return 0
    f.seek(end - 1)
    if f.read(1) == b"\n":
        return end
    pos = end
    while pos > 0:  # back to the last newline, a block at a time
        start = max(0, pos - 65536)
        f.seek(start)
        cut = f.read(pos - start).rfind(b"\n")
        if cut >= 0:
            size = start + cut + 1
            break
        pos = start
    else:
        size = 0
    f.truncate(size)
    return size


def read_done_paths(out: os.PathLike | str, header: list[str]) -> DonePaths:
    """Paths already written to ``out`` (for resume); drops a torn last line in place.

    Streams the file: memory is 8 bytes per row (DonePaths), never the rows themselves.
    Raises FewLensError naming the file when it was written with other columns (other classes'
    count of top-k, an older layout): appending would mix two layouts in one file.
    """
    out = Path(out)
    with open(out, "rb+") as f:
        if _drop_torn_row(f) == 0:
            return DonePaths(np.zeros(0, np.uint64))
    keys = array("Q")
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        first = next(reader, None)
        if first != header:
            raise FewLensError(f"{out}: written with other columns ({','.join(first or [])[:80]}...); "
                               "cannot resume into it — choose another output file")
        for r in reader:
            if r:
                keys.append(DonePaths.key(r[0]))
    return DonePaths(np.frombuffer(keys, np.uint64) if keys else np.zeros(0, np.uint64))


# --------------------------------------------------------------------------- the run
@dataclass
class BatchSummary:
    written: int = 0  # rows written this run (predictions + errors)
    predicted: int = 0
    skipped: int = 0  # already in the output file (resume)
    cached: int = 0  # vectors that came from the cache
    errors: list[ImageError] = field(default_factory=list)  # first MAX_LISTED_ERRORS
    n_errors: int = 0
    cancelled: bool = False


class _Slot:
    """One file in flight, in input order."""

    __slots__ = ("path", "fut", "digest", "vec", "error")

    def __init__(self, path: Path):
        self.path = path
        self.fut: Future | None = None
        self.digest: str | None = None
        self.vec: np.ndarray | None = None
        self.error: ImageError | None = None

    @property
    def resolved(self) -> bool:
        return self.vec is not None or self.error is not None


def predict_to_csv(
    paths: Iterable[os.PathLike | str],
    predictor: Any,
    out: os.PathLike | str,
    *,
    resume: bool = False,
    top_k: int = DEFAULT_TOP_K,
    cache: Any = None,
    batch_size: int = 32,
    workers: int | None = None,
    total: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_error: ErrorFn | None = None,
) -> BatchSummary:
    """Predict every file of ``paths`` into the CSV ``out``, streaming.

    ``resume``: keep the rows already in ``out`` and skip their paths (else ``out`` is replaced).
    ``cache``: an EmbeddingCache (or a project's) for the predictor's vectors; unused when the
    predictor has no ``cache_id``.  ``progress(done, total)`` counts files finished this run plus
    skipped ones (``total`` as given, or None).  ``cancel()`` true stops after the rows in
    flight are dropped; the file holds every row finished so far and the summary has
    ``cancelled=True`` (a resume picks up from there).
    """
    out = Path(out)
    classes = [str(c) for c in predictor.classes]
    k = max(1, min(top_k, len(classes)))
    header = csv_header(k)
    done_paths: DonePaths | None = None
    if resume and out.exists():
        done_paths = read_done_paths(out, header)
    cache_id = getattr(predictor, "cache_id", None) if cache is not None else None
    if cache_id is not None and getattr(predictor, "fingerprint", None) and hasattr(cache, "check_backbone"):
        cache.check_backbone(cache_id, predictor.fingerprint)
    min_side = int(getattr(predictor, "min_side", 256) or 256)
    workers = workers or min(8, max(2, (os.cpu_count() or 2) - 1))
    # In flight: enough for a batch being embedded, the next one decoding and reads ahead of it.
    window = 2 * batch_size + 2 * workers
    summary = BatchSummary()
    threshold = float(getattr(predictor, "threshold", 0.0) or 0.0)
    backbone, method = str(predictor.backbone), str(predictor.method)

    def read(path: Path):
        data, digest = read_and_hash(path)
        return data, digest

    def decode(path: Path, data: bytes | None):
        return predictor.prepare(load_image(path, min_side=min_side, data=data))

    try:
        f = open(out, "a" if done_paths else "w", newline="", encoding="utf-8")
    except OSError as e:
        raise FewLensError(f"{out}: cannot write ({e.strerror or e})") from None
    with f:
        writer = csv.writer(f)
        if not done_paths:
            writer.writerow(header)
        inflight: deque[_Slot] = deque()
        to_lookup: deque[_Slot] = deque()
        to_embed: deque[_Slot] = deque()
        todo = iter(paths)
        exhausted = False
        finished = 0

        def report() -> None:
            if progress is not None:
                progress(finished + summary.skipped, total)

        def fail(slot: _Slot, err: BaseException) -> None:
            slot.error = err if isinstance(err, ImageError) else ImageError(slot.path, f"cannot decode ({err})")

        def lookup(slot: _Slot) -> None:
            try:
                data, slot.digest = slot.fut.result()
            except (ImageError, OSError, ValueError) as e:
                fail(slot, e)
                return
            if cache_id is not None:
                hit = cache.get_many([slot.digest], cache_id).get(slot.digest)
                if hit is not None:
                    slot.vec = np.asarray(hit, np.float32)
                    summary.cached += 1
                    return
            slot.fut = pool.submit(decode, slot.path, data)
            to_embed.append(slot)

        def embed_ready(force: bool) -> bool:
            """Embed the leading decoded slots: a full batch, or whatever is ready when forced."""
            n = 0
            while n < len(to_embed) and n < batch_size and to_embed[n].fut.done():
                n += 1
            if n == 0 or (n < batch_size and not force):
                return False
            slots = [to_embed.popleft() for _ in range(n)]
            good, inputs = [], []
            for s in slots:
                try:
                    inputs.append(s.fut.result())
                    good.append(s)
                except Exception as e:  # a decode failure is that file's row, never the run's
                    fail(s, e)
            if good:
                vecs = np.asarray(predictor.embed(np.stack(inputs)), np.float32)
                new = {}
                for s, v in zip(good, vecs):
                    s.vec = np.array(v, np.float32)
                    new[s.digest] = s.vec
                if cache_id is not None:
                    cache.put_many(cache_id, new)
            return True

        def emit() -> bool:
            nonlocal finished
            ready = []
            while inflight and inflight[0].resolved:
                ready.append(inflight.popleft())
            if not ready:
                return False
            ok = [s for s in ready if s.error is None]
            probs = np.asarray(predictor.head(np.stack([s.vec for s in ok])), np.float32) if ok else None
            i = 0
            for s in ready:
                if s.error is None:
                    writer.writerow(format_row(str(s.path), probs[i], classes, threshold, k, backbone, method))
                    i += 1
                    summary.predicted += 1
                else:
                    writer.writerow(format_error_row(str(s.path), s.error.reason, k, backbone, method))
                    summary.n_errors += 1
                    if len(summary.errors) < MAX_LISTED_ERRORS:
                        summary.errors.append(s.error)
                    if on_error is not None:
                        on_error(s.error)
            f.flush()  # rows reach the file as they are done: a crash loses only rows in flight
            summary.written += len(ready)
            finished += len(ready)
            report()
            return True

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fewlens-batch") as pool:
            try:
                while True:
                    if cancel is not None and cancel():
                        raise Cancelled("cancelled")
                    while not exhausted and len(inflight) < window:
                        nxt = next(todo, None)
                        if nxt is None:
                            exhausted = True
                            break
                        nxt = Path(nxt)
                        if done_paths and str(nxt) in done_paths:
                            summary.skipped += 1
                            continue
                        slot = _Slot(nxt)
                        slot.fut = pool.submit(read, nxt)
                        inflight.append(slot)
                        to_lookup.append(slot)
                    moved = False
                    while to_lookup and to_lookup[0].fut.done():
                        lookup(to_lookup.popleft())
                        moved = True
                    # a short batch only when nothing more can join it (end of input, window full)
                    stuck = not to_lookup and (exhausted or len(inflight) >= window)
                    moved |= embed_ready(force=stuck)
                    moved |= emit()
                    if exhausted and not inflight:
                        break
                    if not moved:
                        heads = ([to_lookup[0]] if to_lookup else []) + list(to_embed)[:batch_size]
                        pending = [s.fut for s in heads if s.fut is not None and not s.fut.done()]
                        if pending:
                            wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            except Cancelled:
                summary.cancelled = True
            finally:
                for s in inflight:
                    if s.fut is not None:
                        s.fut.cancel()
    return summary


__all__ = [
    "BatchSummary",
    "DonePaths",
    "DEFAULT_TOP_K",
    "count_image_files",
    "csv_header",
    "format_error_row",
    "format_row",
    "iter_image_files",
    "predict_to_csv",
    "read_done_paths",
]
