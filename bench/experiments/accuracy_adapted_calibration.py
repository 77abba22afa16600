"""Bench: calibration of ``softkmeans`` on adapted features (the app's code path, on the CPU).

Per episode (5-way 5-shot, 15 queries, M=0, ``core.episodes`` seed 0) the backbone is adapted with
``core.adaptation.adapted_episode`` exactly as ``fewlens eval --adapt on`` does, and the adapted
features are cached (``runs/adapted_<split>_<episodes>.npz``), so output temperatures can be compared
offline: accuracy, ECE and NLL for the shipped temperature times a factor; the factor is chosen by
NLL on the selection classes and reported on all 17.

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_adapted_calibration.py --episodes 30 40
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy_finetune_gpu import splits  # noqa: E402
from core.adaptation import adapted_episode  # noqa: E402
from core.embedder import Embedder  # noqa: E402
from core.episodes import FolderDataset, expected_calibration_error, run_episode, sample_episodes  # noqa: E402
from core.methods import get_method  # noqa: E402
from core.methods.transductive import calibrated_temperature  # noqa: E402
from core.pipeline import embed_files  # noqa: E402

BACKBONE = "mobilenet_v2_imagenet"


def adapted_features(ds, split: str, episodes: int):
    out = ROOT / "runs" / f"adapted_{split}_{episodes}.pkl"
    if out.exists():
        return pickle.loads(out.read_bytes())
    sub = ds.subset(splits(ds.classes)[split])
    res = embed_files(sub.paths, Embedder(BACKBONE, device="cpu"))
    frozen = res.matrix(sub.paths)
    eps = sample_episodes(sub.labels, 5, 5, 15, episodes, seed=0)
    items = []
    t0 = time.time()
    for i, ep in enumerate(eps):
        feats, local = adapted_episode(sub.paths, frozen, ep, BACKBONE)
        items.append((feats, local, frozen[np.concatenate([ep.support, ep.unlabeled, ep.query])]))
        print(f"{split} {i + 1}/{episodes} {time.time() - t0:.0f} s", flush=True)
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(pickle.dumps(items))
    return items


def scores(items, factor: float, adapted: bool = True):
    accs, conf, ok, nll = [], [], [], []
    for feats, ep, frozen in items:
        m = get_method("softkmeans", temperature=factor * calibrated_temperature(5))
        p = run_episode(feats if adapted else frozen, ep, m)
        pred = p.argmax(1)
        accs.append((pred == ep.query_labels).mean())
        conf.append(p[np.arange(len(pred)), pred])
        ok.append(pred == ep.query_labels)
        nll.append(-np.log(np.maximum(p[np.arange(len(pred)), ep.query_labels], 1e-12)))
    conf, ok = np.concatenate(conf), np.concatenate(ok)
    return 100 * np.mean(accs), 100 * expected_calibration_error(conf, ok), float(np.concatenate(nll).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/data/clothing17"))
    ap.add_argument("--episodes", nargs=2, type=int, default=[30, 40], metavar=("SELECTION", "ALL"))
    args = ap.parse_args()
    ds = FolderDataset.from_folder(args.dataset)
    sel = adapted_features(ds, "selection", args.episodes[0])
    every = adapted_features(ds, "all", args.episodes[1])
    factors = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    best = min(factors, key=lambda f: scores(sel, f)[2])
    print(f"| features | output temperature (x the frozen-feature fit) | selection acc / ECE / NLL ({args.episodes[0]} ep) | "
          f"all 17 acc / ECE / NLL ({args.episodes[1]} ep) |\n|---|---|---|---|")
    for adapted, f in ((False, 1.0), (True, 1.0), (True, best)):
        a, b = scores(sel, f, adapted), scores(every, f, adapted)
        name = "adapted" if adapted else "frozen"
        print(f"| {name} | {f:g} | {a[0]:.1f} / {a[1]:.1f} / {a[2]:.3f} | {b[0]:.1f} / {b[1]:.1f} / {b[2]:.3f} |")
    print(f"factor chosen by NLL on selection: {best}")


if __name__ == "__main__":
    main()
