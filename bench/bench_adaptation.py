"""Bench: what adapting the backbone to a project's labels costs on this machine (core.adaptation).

Times, on clothing17 photos (one thread unless --threads):
- ``adapt_backbone`` for 5 classes x 5 labels (the measured recipe's size) and 17 x 5;
- embedding throughput of the adapted network (torch) vs the frozen ONNX Runtime embedder, which
  gives the time to re-embed a 10,000-image project after an adaptation (the app does it in the
  background; predictions keep updating from the current embeddings meanwhile).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_adaptation.py --dataset ../shared/data/clothing17
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.adaptation import adapt_backbone  # noqa: E402
from core.embedder import Embedder  # noqa: E402
from core.episodes import FolderDataset  # noqa: E402
from core.images import load_image  # noqa: E402

BACKBONE = "mobilenet_v2_imagenet"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/data/clothing17"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--embed-images", type=int, default=128)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    ds = FolderDataset.from_folder(args.dataset)
    rng = np.random.default_rng(0)

    def labeled(n_classes: int, shots: int = 5):
        classes = rng.choice(len(ds.classes), n_classes, replace=False)
        idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), shots, replace=False) for c in classes])
        return [load_image(ds.paths[i], min_side=256) for i in idx], ds.labels[idx]

    lines = [f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} .venv/bin/python "
             f"bench/bench_adaptation.py --threads {args.threads}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s), "
             f"load average at start {os.getloadavg()[0]:.2f}", "",
             "| what | time |", "|---|---|"]
    adapted = None
    for n_classes in (5, 17):
        images, labels = labeled(n_classes)
        t0 = time.perf_counter()
        adapted = adapt_backbone(BACKBONE, images, labels)
        lines.append(f"| adapt to {n_classes} classes x 5 labels (20 steps, {min(64, 2 * len(images))} views/step) "
                     f"| {time.perf_counter() - t0:.1f} s |")
    imgs = [load_image(p, min_side=256) for p in ds.paths[: args.embed_images]]
    adapted.embed_images(imgs[:8])  # warm-up
    t0 = time.perf_counter()
    adapted.embed_images(imgs)
    per_adapted = (time.perf_counter() - t0) / len(imgs)
    ort = Embedder(BACKBONE, device="cpu", threads=args.threads)
    ort.embed_images(imgs[:8])
    t0 = time.perf_counter()
    ort.embed_images(imgs)
    per_ort = (time.perf_counter() - t0) / len(imgs)
    engine = "ONNX Runtime export" if adapted.session is not None else "torch"
    lines += [f"| embed one image, adapted network ({engine}, decoded images) | {per_adapted * 1e3:.1f} ms |",
              f"| embed one image, frozen network (ONNX Runtime, decoded images) | {per_ort * 1e3:.1f} ms |",
              f"| re-embed 10,000 images after an adaptation (extrapolated, adapted network) | "
              f"{per_adapted * 1e4 / 60:.1f} min |"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
