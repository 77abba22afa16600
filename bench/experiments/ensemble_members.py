"""Which members should a feature ensemble join?  (issue 17)

    python bench/experiments/ensemble_members.py --datasets clothing17,pbc_blood_cells,omniglot

Frozen features of each built-in backbone on its own crop (the app's cached embeddings), joined here
(each L2-normalized, concatenated, scaled 1/sqrt(k)), on the bench's seed-0 episodes (5-way, 15
queries, no pool).  Paired differences to MobileNetV2 alone, today's default.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402
from bench_backbones import DATA, suite  # noqa: E402

from core.episodes import evaluate, mean_ci95, sample_episodes  # noqa: E402

MEMBERS = {"MNv2": "mobilenet_v2_imagenet", "Lite0": "efficientnet_lite0_imagenet",
           "Lite2": "efficientnet_lite2_imagenet"}


def _unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def joined(feats: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    return (np.concatenate([_unit(feats[n]) for n in names], axis=1) / np.sqrt(len(names))).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--datasets", default="clothing17,pbc_blood_cells,omniglot")
    ap.add_argument("--episodes", type=int, default=600)
    args = ap.parse_args()
    combos = [c for k in (1, 2, 3) for c in itertools.combinations(MEMBERS, k)]
    for name, root in suite(args.data, args.datasets.split(",")).items():
        feats = {}
        for short, backbone in MEMBERS.items():
            ds, feats[short] = dataset_features(root, backbone, quiet=True)
        labels = np.asarray(ds.labels)
        for shots in (1, 5):
            eps = sample_episodes(labels, 5, shots, 15, args.episodes, seed=0)
            for method in ("protonet", "softkmeans"):
                base = None
                cells = []
                for combo in combos:
                    acc = evaluate(joined(feats, combo), eps, method).accuracies * 100
                    base = acc if base is None else base
                    d, ci = mean_ci95(acc - base)
                    cells.append(f"{'+'.join(combo)} {acc.mean():.1f} ({d:+.1f}±{ci:.1f})")
                print(f"{name} {shots}-shot {method}: " + ", ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
