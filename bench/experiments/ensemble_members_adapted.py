"""An adapted MobileNetV2 with frozen partners beside it: Lite2 alone, or Lite0 and Lite2?  (issue 17)

    python bench/experiments/ensemble_members_adapted.py --episodes 24 --shots 5

Per episode MobileNetV2's last stage is adapted once with the app's recipe (core.adaptation, on the
episode's labeled images, centered on the frozen embeddings of what the episode shows), then scored
alone and joined with frozen partners on their own crops (each L2-normalized, concatenated, scaled
1/sqrt(k)); softkmeans M=0 with the adapted temperature; Δ paired per episode to MobileNetV2 alone
adapted (today's default at 3+ labels).  The bench's seed-0 episodes, the first N.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402
from bench_backbones import DATA, suite  # noqa: E402

from core.adaptation import adapted_episode, adapted_method_kwargs  # noqa: E402
from core.episodes import evaluate, mean_ci95, sample_episodes  # noqa: E402

MNV2 = "mobilenet_v2_imagenet"
PARTNERS = {"+Lite2": ("efficientnet_lite2_imagenet",),
            "+Lite0+Lite2": ("efficientnet_lite0_imagenet", "efficientnet_lite2_imagenet")}


def _unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--datasets", default="clothing17,pbc_blood_cells,omniglot")
    ap.add_argument("--episodes", type=int, default=24)
    ap.add_argument("--shots", type=int, default=5)
    args = ap.parse_args()
    kwargs = adapted_method_kwargs("softkmeans")
    for name, root in suite(args.data, args.datasets.split(",")).items():
        ds, frozen = dataset_features(root, MNV2, quiet=True)
        partner = {b: dataset_features(root, b, quiet=True)[1] for bs in PARTNERS.values() for b in bs}
        eps = sample_episodes(np.asarray(ds.labels), 5, args.shots, 15, args.episodes, seed=0)
        kept = {}

        def adapted(ep):
            kept[id(ep)] = adapted_episode(ds.paths, frozen, ep, MNV2)
            return kept[id(ep)]

        t = time.perf_counter()
        base = evaluate(frozen, eps, "softkmeans", kwargs, episode_features=adapted).accuracies * 100
        secs = (time.perf_counter() - t) / len(eps)
        cells = [f"MNv2 adapted {base.mean():.1f} ({secs:.0f} s/episode)"]
        for label, members in PARTNERS.items():
            def joined(ep, members=members):
                f_m, local = kept[id(ep)]
                rows = np.concatenate([ep.support, ep.unlabeled, ep.query]).astype(np.int64)
                parts = [_unit(f_m)] + [_unit(partner[b][rows]) for b in members]
                return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32), local

            acc = evaluate(frozen, eps, "softkmeans", kwargs, episode_features=joined).accuracies * 100
            d, ci = mean_ci95(acc - base)
            cells.append(f"{label} {acc.mean():.1f} ({d:+.1f}±{ci:.1f})")
        print(f"{name} {args.shots}-shot, {len(eps)} episodes: " + ", ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
