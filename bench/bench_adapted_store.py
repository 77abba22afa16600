"""The adapted backbone saved in the project (core.adapted_store): size, write and read-back time,
against re-embedding the project with the stored network (the alternative to storing embeddings).

    python bench/bench_adapted_store.py [--rows 1000 10000] [--images 64] [--data /work/shared/data/clothing17]

Adapts MobileNetV2 once on tests/data/clothing_mini (3 classes x 5 labels, 2 steps: the weights'
size and shape are what matter here, not their quality), then for each ROWS count saves the
network plus ROWS adapted 1280-d embeddings into a fresh project, reads it back (blobs + checksum
+ rebuilding the torch network and its ONNX Runtime session), and times re-embedding IMAGES photos
of DATA with the adapted network (decode + ONNX Runtime, CPU) to extrapolate re-embedding ROWS photos.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--images", type=int, default=64, help="photos re-embedded to time the alternative")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/clothing17"))
    args = ap.parse_args()

    from core import adapted_store
    from core.adaptation import AdaptationSettings, adapt_and_embed
    from core.pipeline import embed_files
    from core.project import Project

    mini = ROOT / "tests" / "data" / "clothing_mini"
    files, labels = [], []
    for k, d in enumerate(sorted(p for p in mini.iterdir() if p.is_dir())):
        files += sorted(d.glob("*.jpg"))[:5]
        labels += [k] * 5
    a = adapt_and_embed("mobilenet_v2_imagenet", files, labels, [], settings=AdaptationSettings(steps=2, views=2))
    net = a.network
    from core.images import find_images

    photos = find_images(args.data)[: args.images] if args.data.is_dir() else sorted(mini.glob("*/*.jpg"))
    embed_files(photos[:4], net, cache=None)  # warm-up (distinct photos: duplicates would share one run)
    t = time.perf_counter()
    embed_files(photos, net, cache=None)
    per_image = (time.perf_counter() - t) / len(photos)
    print(f"re-embedding {len(photos)} photos of {args.data.name} with the adapted network (ONNX Runtime, CPU, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}): {per_image * 1000:.1f} ms/photo\n")
    print("| rows | stored MB | save s | read back s (blobs + network) | re-embedding instead, s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for n in args.rows:
        emb = rng.standard_normal((n, net.embed_dim)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "p.fewlens"
            with Project.create(path) as p:
                t = time.perf_counter()
                size = adapted_store.save(p, "k", net, np.arange(n), np.full(n, -1), 15, np.zeros(n, bool),
                                          np.ones(n, bool), emb)
                t_save = time.perf_counter() - t
            with Project.open(path) as p:
                t = time.perf_counter()
                st = adapted_store.load(p, "k")
                st.network()
                t_load = time.perf_counter() - t
        print(f"| {n:,} | {size / 1e6:.1f} | {t_save:.2f} | {t_load:.2f} | {n * per_image:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
