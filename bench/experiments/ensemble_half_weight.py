"""How much should the adapted MobileNetV2 half weigh against the frozen Lite2 half?  (issue 17)

    python bench/experiments/ensemble_half_weight.py --episodes 16

The built-in ensemble joins unit halves with equal weight (1/sqrt(2) each).  Adapted, it loses ~2
points to an adapted MobileNetV2 alone on blood cells (bench/results/backbones.md).
Here the ensemble is adapted once per episode (core.adaptation, 5-shot, the first N episodes of
bench_backbones' seed-0 episodes) and scored with the MobileNetV2 half weighted w, Lite2's
sqrt(1 - w^2); w = 1 is the adapted MobileNetV2 alone (on the ensemble's crop), w = 0.707 the ensemble.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402
from bench_backbones import DATA, suite  # noqa: E402

from core.adaptation import adapted_episode, adapted_method_kwargs  # noqa: E402
from core.backbones.ensemble import ENSEMBLE_ID  # noqa: E402
from core.episodes import evaluate, mean_ci95, sample_episodes  # noqa: E402

WEIGHTS = [0.5, 0.6, 0.707, 0.8, 0.9, 1.0]


def _unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--episodes", type=int, default=16)
    ap.add_argument("--shots", type=int, default=5)
    args = ap.parse_args()
    kwargs = adapted_method_kwargs("softkmeans")
    rows = {}
    for name, root in suite(args.data, ["clothing17", "pbc_blood_cells", "omniglot"]).items():
        ds, feats = dataset_features(root, ENSEMBLE_ID, quiet=True)
        eps = sample_episodes(np.asarray(ds.labels), 5, args.shots, 15, args.episodes, seed=0)
        kept = {id(ep): adapted_episode(ds.paths, feats, ep, ENSEMBLE_ID) for ep in eps}
        for w in WEIGHTS:
            def weighted(ep, w=w):
                f, local = kept[id(ep)]
                return np.concatenate([w * _unit(f[:, :1280]), np.sqrt(max(0.0, 1 - w * w)) * _unit(f[:, 1280:])],
                                      axis=1).astype(np.float32), local
            rows[(name, w)] = evaluate(feats, eps, "softkmeans", kwargs, episode_features=weighted).accuracies * 100
        base = rows[(name, 1.0)]
        print(f"{name}: " + ", ".join(f"w={w}: {rows[(name, w)].mean():.1f} (Δ {mean_ci95(rows[(name, w)] - base)[0]:+.1f})"
                                      for w in WEIGHTS), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
