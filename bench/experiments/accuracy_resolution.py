"""Bench-only: test-time input geometry of the bundled ImageNet MobileNetV2 (resolution / crop lever).

MobileNetV2 is fully convolutional with global average pooling, so it runs at any input size.  A
network trained on random-resized crops sees objects larger than a 256 -> 224 center crop shows
them ("FixRes", Touvron et al. 2019), and a square center crop of a portrait photo (most of
clothing17 is 192x256) cuts off the top and bottom of the garment.  This script embeds a folder
at other geometries with the torch port and caches, per image and per geometry:

  final, final_flip : GAP of the final 1x1 conv (1280-d; the app's embedding at that geometry)
  b16, b16_flip     : GAP of the last inverted-residual block (320-d)

Geometries (``--views``):
  crop:R:C    shorter side resized to R, center crop C x C (the app today: crop:256:224)
  full:S      shorter side resized to S, no crop (aspect ratio kept, non-square input)
  long:L      longer side resized to L, no crop (the whole photo, non-square input)

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_resolution.py --views crop:256:224 full:224 \
        --episodes 300 --splits selection all

prints 5-way accuracy (%) of ``protonet`` and the default ``softkmeans`` at 1/5-shot, pool M=0/10,
same episodes (core.episodes, seed 0) for every geometry.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from core.backbones import get_backbone  # noqa: E402
from core.episodes import FolderDataset, evaluate, sample_episodes  # noqa: E402
from core.images import load_image  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.preprocess import normalize, resize_center_crop  # noqa: E402

DATASET = "/work/shared/data/clothing17"


def geometry_pixels(img: Image.Image, view: str) -> np.ndarray:
    """(H, W, 3) uint8 input of ``img`` for geometry ``view`` (see the module docstring)."""
    kind, *nums = view.split(":")
    img = img.convert("RGB")
    w, h = img.size
    if kind == "crop":
        return np.asarray(resize_center_crop(img, int(nums[0]), int(nums[1])), np.uint8)
    if kind in ("full", "long"):
        target = int(nums[0])
        scale = target / (min(w, h) if kind == "full" else max(w, h))
        size = (max(32, round(w * scale)), max(32, round(h * scale)))
        if size != (w, h):
            img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        return np.asarray(img, np.uint8)
    raise ValueError(f"unknown geometry {view!r}")


def geometry_features(view: str, dataset: str = DATASET) -> dict[str, np.ndarray]:
    """{final, final_flip, b16, b16_flip: (n, D) float32} in FolderDataset order (cached)."""
    spec = get_backbone("mobilenet_v2_imagenet")
    ds = FolderDataset.from_folder(dataset)
    key = hashlib.sha256(repr((spec.weights_id(), "geometry-v1", view, [str(p) for p in ds.paths])).encode())
    out = cache_dir() / "bench" / f"mobilenet_v2_imagenet-{view.replace(':', '_')}-{key.hexdigest()[:16]}.npz"
    if not out.exists():
        _extract(ds, spec, view, out)
    z = np.load(out)
    return {k: z[k] for k in z.files}


def _extract(ds, spec, view, out):
    import torch

    torch.set_num_threads(1)
    model = spec.build_torch().eval()
    grabbed = {}
    hook = model.blocks[16].register_forward_hook(lambda m, a, o: grabbed.__setitem__("b16", o))
    t0 = time.time()
    # group images by input shape so non-square geometries still run in batches
    shapes = defaultdict(list)
    pixels = []
    for i, p in enumerate(ds.paths):
        px = geometry_pixels(load_image(p, min_side=None), view)
        pixels.append(px)
        shapes[px.shape].append(i)
    res = {k: np.zeros((len(ds), d), np.float32) for k, d in
           (("final", 1280), ("final_flip", 1280), ("b16", 320), ("b16_flip", 320))}
    with torch.no_grad():
        for shape, idx in shapes.items():
            for j in range(0, len(idx), 32):
                chunk = idx[j : j + 32]
                x = np.stack([normalize(pixels[i], spec) for i in chunk])
                for suffix, xx in (("", x), ("_flip", np.ascontiguousarray(x[..., ::-1]))):
                    fm = model.features(torch.from_numpy(xx))
                    res["final" + suffix][chunk] = fm.mean((2, 3)).numpy()
                    res["b16" + suffix][chunk] = grabbed["b16"].mean((2, 3)).numpy()
    hook.remove()
    print(f"{view}: {len(ds)} images, {len(shapes)} input shapes, {time.time() - t0:.0f} s", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **res)
    tmp.replace(out)


def main() -> None:
    from bench_accuracy import splits

    ap = argparse.ArgumentParser()
    ap.add_argument("--views", nargs="+", default=["crop:256:224"])
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--splits", nargs="+", default=["selection", "all"])
    ap.add_argument("--methods", nargs="+", default=["protonet", "softkmeans"])
    ap.add_argument("--pools", nargs="+", type=int, default=[0, 10])
    ap.add_argument("--dataset", default=DATASET)
    args = ap.parse_args()
    ds = FolderDataset.from_folder(args.dataset)
    parts = splits(ds, 0, 10)
    paths = np.asarray([str(p) for p in ds.paths], object)
    for view in args.views:
        feats = geometry_features(view, args.dataset)["final"]
        for split in args.splits:
            sub = ds.subset(parts[split])
            keep = np.isin(paths, np.asarray([str(p) for p in sub.paths], object))
            cells = []
            for method in args.methods:
                for shots in (1, 5):
                    for pool in args.pools:
                        if method == "protonet" and pool:
                            continue  # inductive: the pool does not change it
                        eps = sample_episodes(sub.labels, 5, shots, 15, args.episodes, seed=0, unlabeled_pool=pool)
                        r = evaluate(feats[keep], eps, method)
                        cells.append(f"{method}/{shots}s/M{pool} {r.accuracy:.1f}±{r.ci95:.1f}")
            print(f"{view:14s} {split:12s} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
