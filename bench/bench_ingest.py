"""Folder ingest of 12-megapixel JPEGs vs the reduced-scale decode limit.

    .venv/bin/python bench/bench_ingest.py [--dir FOLDER] [--count 20] [--workers N] [--out bench/results/ingest.md]

Without --dir, generates ``--count`` synthetic photo-like 4000x3000 JPEGs (smooth
gradients + texture + sensor-like noise, quality 92, ~3-5 MB each like a phone photo) in a
temporary folder.  Measures, on the same files and the same number of threads:

- limit:   PIL ``draft()`` reduced-scale decoding alone (open + draft + load), nothing else;
- ingest:  FewLens's real path, ``core.pipeline.embed_files`` with a no-op embedder and a fresh
           embedding cache: read once, SHA-256, decode with draft to shorter side >= 256,
           EXIF transpose, RGB, cache write;
- end to end: the same with the real backbone on ONNX Runtime (decoding overlaps the network);
- for contrast: ``load_image`` at full resolution, and OpenCV's reduced decode
           (``IMREAD_REDUCED_COLOR_8``) as the alternative decoder we did not pick.

Each figure is the median of ``--repeats`` passes over the files (warm page cache), the
variants interleaved pass by pass so machine-load swings hit them alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.embedding_cache import EmbeddingCache  # noqa: E402
from core.images import find_images, load_image  # noqa: E402
from core.pipeline import embed_files  # noqa: E402


def make_photos(folder: Path, count: int, size=(4000, 3000), seed: int = 0) -> list[Path]:
    """Photo-like JPEGs: low-frequency colour fields plus mid-frequency texture and pixel noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for i in range(count):
        # smooth colour field: a coarse random grid upsampled (sky, walls, skin)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        # texture: mid-frequency detail (foliage, fabric) upsampled from 1/8 scale
        tex = Image.fromarray(rng.integers(0, 256, (h // 8, w // 8), dtype=np.uint8)).resize((w, h), Image.BILINEAR)
        a = np.asarray(coarse, np.int16)
        a += (np.asarray(tex, np.int16)[..., None] - 128) // 3
        a += rng.integers(-6, 7, (h, w, 1), dtype=np.int16)  # sensor noise
        p = folder / f"photo_{i:03d}.jpg"
        Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(p, quality=92)
        out.append(p)
    return out


def _run(fn, files: list[Path], workers: int) -> float:
    """images/s of one pass of ``fn`` over ``files`` on ``workers`` threads."""
    t0 = time.perf_counter()
    if workers == 1:
        for f in files:
            fn(f)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fn, files))
    return len(files) / (time.perf_counter() - t0)


def draft_decode(path: Path) -> None:
    with Image.open(path) as im:
        im.draft("RGB", (256, 256))
        im.load()


def cv2_reduced(path: Path) -> None:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_8)
    assert img is not None


class NullEmbedder:
    """Takes decoded images and returns a constant vector: measures everything but the network."""

    class spec:  # noqa: N801  (a stand-in for BackboneSpec)
        id = "bench_null"
        resize_size = 256
        input_size = 224
        mean = std = (0.5, 0.5, 0.5)

        @staticmethod
        def weights_id() -> str:
            return "none"

    device = "cpu"

    def embed_images(self, images):
        for im in images:
            assert min(im.size) >= 256
        return np.zeros((len(images), 4), np.float32)


def ingest_pass(files: list[Path], workers: int, db: Path) -> tuple[float, float]:
    """One fresh-cache ingest of the folder (every file decoded), then one re-open (all cached)."""
    with EmbeddingCache(db) as cache:
        t0 = time.perf_counter()
        res = embed_files(find_images(files[0].parent), NullEmbedder(), cache=cache, workers=workers)
        fresh = len(files) / (time.perf_counter() - t0)
        assert not res.errors and res.n_computed == len(files), res.errors
        t0 = time.perf_counter()
        res = embed_files(files, NullEmbedder(), cache=cache, workers=workers)
        reopen = len(files) / (time.perf_counter() - t0)
        assert res.n_cached == len(files)
    return fresh, reopen


def end_to_end_pass(files: list[Path], workers: int, db: Path, embedder) -> float:
    """Fresh-cache ingest with the real backbone: decode threads overlap the network."""
    with EmbeddingCache(db) as cache:
        t0 = time.perf_counter()
        res = embed_files(files, embedder, cache=cache, workers=workers)
        rate = len(files) / (time.perf_counter() - t0)
    assert not res.errors and res.n_computed == len(files)
    return rate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, help="folder of JPEGs to use instead of generated ones")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.md")
    ap.add_argument("--backbone", default="mobilenet_v2_imagenet",
                    help="also time ingest + embedding with this backbone on the CPU ('' to skip)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fewlens-ingest-") as tmp:
        tmp = Path(tmp)
        if args.dir:
            files = find_images(args.dir)
        else:
            (tmp / "photos").mkdir()
            print(f"generating {args.count} 4000x3000 JPEGs ...", file=sys.stderr)
            files = make_photos(tmp / "photos", args.count)
        sizes = [f.stat().st_size for f in files]
        with Image.open(files[0]) as im:
            dims = im.size
        w = args.workers
        load_before = os.getloadavg()
        # Round-robin: every pass runs every variant once, so load swings on this shared
        # machine hit all rows alike; report medians.
        variants = {
            "limit": lambda: _run(draft_decode, files, w),
            "load_image": lambda: _run(lambda f: load_image(f), files, w),
            "limit1": lambda: _run(draft_decode, files, 1),
            "cv2": lambda: _run(cv2_reduced, files, w),
        }
        embedder = None
        if args.backbone:
            from core.embedder import Embedder

            embedder = Embedder(args.backbone, device="cpu")
        samples: dict[str, list[float]] = {k: [] for k in [*variants, "ingest", "reopen", "full", "e2e"]}
        for r in range(args.repeats):
            for k, fn in variants.items():
                samples[k].append(fn())
            fresh, reopen = ingest_pass(files, w, tmp / f"cache_{r}.sqlite")
            samples["ingest"].append(fresh)
            samples["reopen"].append(reopen)
            if embedder is not None:
                samples["e2e"].append(end_to_end_pass(files, w, tmp / f"e2e_{r}.sqlite", embedder))
            if r < 2:  # slow: two passes are plenty for the contrast row
                samples["full"].append(_run(lambda f: load_image(f, min_side=None), files, w))
        med = {k: statistics.median(v) for k, v in samples.items() if v}
        limit, ingest = med["limit"], med["ingest"]
        rows = [
            ("limit: PIL draft decode only (open + draft + load)", limit),
            ("**ingest: embed_files, fresh cache** (read, SHA-256, draft decode, EXIF, RGB, cache write)", ingest),
            ("load_image only (draft, EXIF, RGB; no hash, no cache)", med["load_image"]),
            ("re-open: embed_files, all cached (read + SHA-256 + lookup, no decode)", med["reopen"]),
            ("limit on 1 thread", med["limit1"]),
            ("OpenCV IMREAD_REDUCED_COLOR_8 (alternative decoder, not used)", med["cv2"]),
            ("full-resolution decode (load_image min_side=None), for contrast", med["full"]),
        ]
        if "e2e" in med:
            rows.insert(2, (f"end to end: ingest + {args.backbone} embeddings ({embedder.device_label}), fresh cache",
                            med["e2e"]))
        load_after = os.getloadavg()

    share = ingest / limit
    import PIL

    lines = [
        "## Folder ingest of 12-megapixel JPEGs (core.images / core.pipeline)",
        "",
        f"{len(files)} JPEGs, {dims[0]}x{dims[1]}, mean {statistics.mean(sizes) / 1e6:.1f} MB, "
        f"{w} decode threads, median of {args.repeats} passes.",
        "",
        "| path | images/s | share of limit |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {rate:.1f} | {rate / limit:.0%} |" for name, rate in rows]
    lines += [
        "",
        f"**Ingest = {share:.0%} of the reduced-scale decode limit** (target >= 80%): "
        f"{'met' if share >= 0.8 else 'NOT met'}.",
        "",
        f"- command: `.venv/bin/python bench/bench_ingest.py --count {args.count} --workers {w} "
        f"--repeats {args.repeats}`",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Pillow {PIL.__version__}",
        f"- load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} "
        "(shared machine: absolute numbers are noisy, the ratio less so since all rows share the load)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
