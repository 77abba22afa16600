"""Bench-only: several geometries of the same photo as one feature (multi-view lever), screened with
bench/experiments/accuracy_screen.py's soft k-means on cached features.

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_multiview.py "VIEWS" "KWARGS" EPISODES [split]

VIEWS: '+'-joined ``geometry/output[*weight]`` items, e.g. ``crop:256:224/final+full:224/final*0.7``;
outputs ``final``, ``final_flip``, ``b16``, ``b16_flip`` (bench/experiments/accuracy_resolution.py).  Each item
is L2-normalized, weighted and concatenated.  ``"avg:"`` before VIEWS averages the (normalized)
items instead (same dimension; only for items of equal width).  KWARGS go to accuracy_screen's
soft k-means (iters, T, w, rej, sinkhorn; flip_samples=True adds the
mirrored views as extra labeled and unlabeled samples).  Prints 1-shot M=0 / M=10, 5-shot M=0 / M=10.
"""
import ast
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from accuracy_resolution import geometry_features  # noqa: E402
from core.methods.base import l2_normalize  # noqa: E402


def view_matrix(spec: str) -> np.ndarray:
    average = spec.startswith("avg:")
    items = spec[4:].split("+") if average else spec.split("+")
    blocks = []
    for item in items:
        name, _, weight = item.partition("*")
        geometry, output = name.rsplit("/", 1)
        blocks.append(float(weight or 1.0) * l2_normalize(geometry_features(geometry)[output]))
    return (np.mean(blocks, 0) if average else np.concatenate(blocks, 1)).astype(np.float32)


if __name__ == "__main__":
    import accuracy_screen as scr

    views = sys.argv[1]
    kw = ast.literal_eval(sys.argv[2]) if len(sys.argv) > 2 else {}
    n_ep = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    split = sys.argv[4] if len(sys.argv) > 4 else "selection"
    scr.build = lambda names, weights: view_matrix(views)
    shown = dict(kw)  # printed as given (flip_samples is popped below)
    variant = scr.v_base
    if kw.pop("flip_samples", False):  # mirrored views of every labeled and unlabeled image as extra samples
        scr.flip = view_matrix("+".join(v.replace("/final", "/final_flip").replace("/b16", "/b16_flip")
                                        for v in views.split("+")))
        scr.crop = scr.flip  # only its length is used before build() replaces F
        variant = lambda F, Fl, ep, uidx, **k: scr.v_aug(F, Fl, ep, uidx, pool_flip=True, **k)  # noqa: E731
    t0 = time.time()
    res = []
    for shots in (1, 5):
        for pool in (0, 10):
            m, ci = scr.run(variant, split, shots, pool, n_ep, feat=((), ()), **kw)
            res.append(f"{m:.1f}±{ci:.1f}")
    print(f"multiview {views} {shown} [{split} {n_ep}ep] 1s/M0 1s/M10 5s/M0 5s/M10: " + " ".join(res)
          + f"  ({time.time() - t0:.0f}s)", flush=True)
