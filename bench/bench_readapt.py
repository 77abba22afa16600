"""Bench: what waiting to re-adapt costs (core.adaptation.needs_readaptation, issue 10).

The app adapts the backbone at 5 labels per class and, until the labels grow by READAPT_GROWTH
(1.5x) or a trained label changes, keeps those adapted features and only refits the method on
them.  Per seeded 5-way episode: adapt on 5 shots; then the user labels 2 more per class (7 shots,
growth 1.4x, so no re-adaptation).  Compared on the same 15 queries per class:

- kept:       the 5-shot adapted network, the method fitted on all 7 shots (what the app does);
- re-adapted: the backbone adapted again on the 7 shots (what it did before: one job per label);
- frozen:     pretrained features, 7 shots.

    .venv/bin/python bench/bench_readapt.py --data ../shared/data --episodes 10
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

from core.adaptation import adapt_backbone, adapted_method_kwargs  # noqa: E402
from core.embedder import Embedder  # noqa: E402
from core.episodes import EpisodeSampler, FolderDataset, mean_ci95, run_episode  # noqa: E402
from core.images import load_image  # noqa: E402
from core.methods import get_method  # noqa: E402

BACKBONE = "mobilenet_v2_imagenet"
METHOD = "softkmeans"


def run_set(root: Path, episodes: int, seed: int) -> dict[str, list[float]]:
    ds = FolderDataset.from_folder(root)
    sampler = EpisodeSampler(ds.labels, ways=5, shots=7, queries=15, seed=seed)
    emb = Embedder(BACKBONE)
    out: dict[str, list[float]] = {"frozen": [], "kept": [], "readapted": []}
    for k in range(episodes):
        ep = sampler.episode(k)
        rows = np.concatenate([ep.support, ep.query])
        images = [load_image(ds.paths[i], min_side=256) for i in rows]
        frozen = emb.embed_images(images)
        ns = len(ep.support)
        local = np.arange(len(rows))
        import dataclasses

        e7 = dataclasses.replace(ep, support=local[:ns], query=local[ns:])
        # the first 5 of each class's 7 labels: what the first adaptation saw
        first5 = np.concatenate([np.flatnonzero(ep.support_labels == c)[:5] for c in range(5)])

        def acc(features, kwargs) -> float:
            probs = run_episode(features, e7, get_method(METHOD, **kwargs))
            return float((probs.argmax(1) == e7.query_labels).mean())

        out["frozen"].append(acc(frozen, {}))
        a5 = adapt_backbone(BACKBONE, [images[i] for i in first5], ep.support_labels[first5],
                            center_embeddings=frozen)
        out["kept"].append(acc(a5.embed_images(images, batch=64), adapted_method_kwargs(METHOD)))
        a7 = adapt_backbone(BACKBONE, images[:ns], ep.support_labels, center_embeddings=frozen)
        out["readapted"].append(acc(a7.embed_images(images, batch=64), adapted_method_kwargs(METHOD)))
        print(f"{root.name} episode {k}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in out.items()), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--sets", nargs="+", default=["clothing17", "pbc_blood_cells"])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "readapt.md"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    lines = ["## Re-adapting the backbone: after every label, or at 1.5x the labels (issue 10)", "",
             f"Command: `.venv/bin/python bench/bench_readapt.py --episodes {args.episodes}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, 1 torch thread, load average at start {os.getloadavg()[0]:.2f} "
             "(other jobs were running: timings are not reported, accuracies are unaffected)", "",
             "5-way, adapted at 5 shots, then 2 more labels per class (7 shots, 1.4x: the app keeps the "
             f"adapted features and refits `{METHOD}`); 15 queries per class, seed {args.seed}, same episodes "
             "in every column. Paired difference = kept − re-adapted.", "",
             "| set | episodes | frozen 7-shot | kept (5-shot adaptation) | re-adapted at 7 shots | kept − re-adapted |",
             "|---|---|---|---|---|---|"]
    for name in args.sets:
        r = run_set(Path(args.data) / name, args.episodes, args.seed)
        cells = []
        for key in ("frozen", "kept", "readapted"):
            m, ci = mean_ci95(np.asarray(r[key]) * 100)
            cells.append(f"{m:.1f} ± {ci:.1f}")
        dm, dci = mean_ci95((np.asarray(r["kept"]) - np.asarray(r["readapted"])) * 100)
        lines.append(f"| {name} | {args.episodes} | " + " | ".join(cells) + f" | {dm:+.1f} ± {dci:.1f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
