"""Does the ensemble lose on blood cells because its graph shrinks Lite2's 260 px crop to 224 for
MobileNetV2 without a low-pass filter?  (issue 17)

    python bench/experiments/ensemble_antialias.py --datasets pbc_blood_cells,clothing17
    python bench/experiments/ensemble_antialias.py --crop --datasets pbc_blood_cells,clothing17,omniglot

Frozen features on the bench's seed-0 episodes (5-way, 15 queries): the built-in ensemble as the app
runs it (ONNX Runtime, cached), the same torch module with an antialiased resize (or, ``--crop``, with
MobileNetV2 given its own crop share of the input: the central 256 of 260 px), and the two members
joined on their own crops.  Paired differences to the built-in one.

2026-12-04: antialiasing changes nothing (-0.1..+0.1); the crop share recovers most of the gap to
the own-crop join on blood cells (+0.5..+0.6 of 0.8..0.9).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402
from bench_backbones import DATA, suite  # noqa: E402

from core.backbones import get_backbone  # noqa: E402
from core.backbones.ensemble import ENSEMBLE_ID, MEMBERS  # noqa: E402
from core.episodes import evaluate, mean_ci95, sample_episodes  # noqa: E402
from core.images import load_image  # noqa: E402
from core.preprocess import preprocess_batch  # noqa: E402


def _unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def antialiased(paths, batch: int = 32, crop: bool = False) -> np.ndarray:
    """``crop``: instead, MobileNetV2 gets the central 256 of the 260 px (its own 224/256 share of the
    shorter side, as its own crop has) before the resize (no antialiasing)."""
    import torch
    import torch.nn.functional as F

    spec = get_backbone(ENSEMBLE_ID)
    model = spec.build_torch().eval()
    plain = F.interpolate

    def central(x, **kw):
        side = x.shape[-1]
        keep = round(spec.resize_size * 224 / 256)  # 292 * 0.875 = 255.5 -> 256
        off = (side - keep) // 2
        return plain(x[..., off:off + keep, off:off + keep], **kw)

    F.interpolate = central if crop else functools.partial(plain, antialias=True)  # the module calls F.interpolate
    try:
        out = []
        with torch.no_grad():
            for i in range(0, len(paths), batch):
                imgs = [load_image(p, min_side=spec.resize_size) for p in paths[i:i + batch]]
                out.append(model(torch.from_numpy(preprocess_batch(imgs, spec))).numpy())
        return np.concatenate(out)
    finally:
        F.interpolate = plain


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--datasets", default="pbc_blood_cells,clothing17")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--crop", action="store_true", help="MobileNetV2's own crop share instead of antialiasing")
    args = ap.parse_args()
    for name, root in suite(args.data, args.datasets.split(",")).items():
        ds, built_in = dataset_features(root, ENSEMBLE_ID, quiet=True)
        parts = [_unit(dataset_features(root, m, quiet=True)[1]) for m in MEMBERS]
        own = (np.concatenate(parts, axis=1) / np.sqrt(2)).astype(np.float32)
        aa = antialiased(ds.paths, crop=args.crop)
        labels = np.asarray(ds.labels)
        for shots in (1, 5):
            eps = sample_episodes(labels, 5, shots, 15, args.episodes, seed=0)
            for method in ("protonet", "softkmeans"):
                acc = {k: evaluate(f, eps, method).accuracies * 100
                       for k, f in (("built-in", built_in), ("cropped" if args.crop else "antialiased", aa),
                                                     ("own crops", own))}
                base = acc["built-in"]
                print(f"{name} {shots}-shot {method}: " + ", ".join(
                    f"{k} {a.mean():.1f}" + ("" if k == "built-in" else " (Δ %+.1f ± %.1f)" % mean_ci95(a - base))
                    for k, a in acc.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
