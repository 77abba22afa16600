"""Bench-only: pooled intermediate features of the bundled ImageNet MobileNetV2 (multi-layer lever).

Runs the torch port of ``mobilenet_v2_imagenet`` on the app's crop (resize 256 + center crop 224)
with forward hooks and caches, per image:
  final   : GAP of the final 1x1 conv (1280-d; the app's embedding, for a sanity check)
  gem     : generalized-mean pooling (p=3) of the same map
  b16     : GAP of the last inverted-residual block's output (320-d, the input of the final 1x1 conv)
  b15     : GAP of the block before it (160-d)
  b12     : GAP of the last 14x14 block (96-d)

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_multilayer.py   # caches, prints the path

Cached in cache_dir()/bench/ keyed by the weights and the file list (about 1 minute for clothing17
on one thread).  ``final`` matches the ONNX Runtime embedding to 2e-5.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.backbones import get_backbone  # noqa: E402
from core.episodes import FolderDataset  # noqa: E402
from core.images import load_image  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.preprocess import crop_uint8, normalize  # noqa: E402


def multilayer_features(dataset="/work/shared/data/clothing17") -> dict[str, np.ndarray]:
    """{name: (n, D) float32} for every image of ``dataset`` in FolderDataset order (cached)."""
    spec = get_backbone("mobilenet_v2_imagenet")
    ds = FolderDataset.from_folder(dataset)
    key = hashlib.sha256(repr((spec.weights_id(), "multilayer-v1", [str(p) for p in ds.paths])).encode())
    out = cache_dir() / "bench" / f"mobilenet_v2_imagenet-multilayer-{key.hexdigest()[:16]}.npz"
    if not out.exists():
        _extract(ds, spec, out)
    z = np.load(out)
    return {k: z[k] for k in z.files}


def _extract(ds, spec, out):
    torch.set_num_threads(1)
    model = spec.build_torch().eval()
    print(f"multi-layer features of {len(ds)} images ...", file=sys.stderr)
    grabbed = {}
    hooks = [model.blocks[i].register_forward_hook(lambda m, a, o, i=i: grabbed.__setitem__(i, o)) for i in (12, 15, 16)]
    res = {k: [] for k in ("final", "gem", "b16", "b15", "b12")}
    with torch.no_grad():
        for i in range(0, len(ds.paths), 32):
            x = np.stack([normalize(crop_uint8(load_image(p, min_side=spec.resize_size), spec), spec)
                          for p in ds.paths[i : i + 32]])
            fm = model.features(torch.from_numpy(x))
            res["final"].append(fm.mean((2, 3)).numpy())
            res["gem"].append(fm.clamp(min=0).pow(3).mean((2, 3)).pow(1 / 3).numpy())
            for b in (16, 15, 12):
                res[f"b{b}"].append(grabbed[b].mean((2, 3)).numpy())
    for h in hooks:
        h.remove()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_suffix(".tmp.npz")
    np.savez(tmp, **{k: np.concatenate(v).astype(np.float32) for k, v in res.items()})
    tmp.replace(out)


if __name__ == "__main__":
    feats = multilayer_features(*sys.argv[1:2])
    print({k: v.shape for k, v in feats.items()})
