"""Siamese and Relation heads meta-trained on ImageNet features, measured on photos and a far domain (issue 18).

    python bench/bench_feature_heads.py [--data /work/shared/data] [--steps 1500] [--episodes 300]
                                        [--save-dir runs/feature_heads]

The app's Siamese and Relation methods fit their head on the project's few labels unless a head
meta-trained for the backbone ships (``assets/models/heads/<backbone>/<method>.pt``, core.meta.support_fit).
Here each head is meta-trained episodically on MobileNetV2 (ImageNet) embeddings of clothing17's 10
*selection* classes (bench/bench_accuracy.py's split, seed 0), L2-normalised as the methods see them,
5-way, 1 or 5 shots per step at random, 15 queries, cross-entropy over the episode's classes, Adam.
It is then scored, as the app would run it (``get_method(m, weights=file)``), on the same seeded
5-way episodes as the support-fitted head and ProtoNet: clothing17's 7 *confirmation* classes (never
trained on) and all 8 classes of pbc_blood_cells (a far domain: blood-cell microscopy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402

BACKBONE = "mobilenet_v2_imagenet"
DIM = 1280


def selection_split(classes: list[str], seed: int = 0, n_select: int = 10) -> tuple[list[str], list[str]]:
    perm = np.random.default_rng(seed).permutation(len(classes))  # bench/bench_accuracy.py's splits()
    return sorted(classes[i] for i in perm[:n_select]), sorted(classes[i] for i in perm[n_select:])


def train_head(method: str, feats: np.ndarray, labels: np.ndarray, steps: int, seed: int = 0):
    """Episodic meta-training of the head alone on fixed embeddings; returns (learner, seconds, curve)."""
    import torch
    from torch import nn

    from core.meta.learners import RelationLearner, SiameseLearner

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    learner = (SiameseLearner(nn.Identity(), DIM, loss="ce") if method == "siamese"
               else RelationLearner(nn.Identity(), DIM, hidden=64, loss="ce"))
    opt = torch.optim.Adam(learner.head.parameters(), lr=1e-3)
    x = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    rng = np.random.default_rng(seed)
    curve, t0, run = [], time.perf_counter(), []
    for step in range(steps):
        shots = int(rng.choice([1, 5]))
        classes = rng.choice(len(by_class), 5, replace=False)
        s_idx, q_idx = [], []
        for c in classes:
            pick = rng.choice(by_class[c], shots + 15, replace=False)
            s_idx.append(pick[:shots])
            q_idx.append(pick[shots:])
        zs = torch.from_numpy(x[np.concatenate(s_idx)].astype(np.float32))
        zq = torch.from_numpy(x[np.concatenate(q_idx)].astype(np.float32))
        ys = torch.arange(5).repeat_interleave(shots)
        yq = torch.arange(5).repeat_interleave(15)
        loss, acc = learner.forward_z(zs, ys, zq, yq, 5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.append(float(acc))
        if (step + 1) % 250 == 0:
            curve.append((step + 1, 100 * float(np.mean(run))))
            run = []
    return learner, time.perf_counter() - t0, curve


def save_head(learner, method: str, path: Path) -> Path:
    from core.meta.checkpoints import save_checkpoint

    cfg = {"method": method, "dim": DIM, "backbone": BACKBONE}
    if method == "relation":
        cfg["relation_hidden"] = learner.head.hidden
    return save_checkpoint({"config": cfg, "model": {k: v.detach().clone() for k, v in learner.head.state_dict().items()}},
                           path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--save-dir", type=Path, default=ROOT / "runs" / "feature_heads")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from core.episodes import evaluate, mean_ci95, sample_episodes

    cds, cfeats = dataset_features(args.data / "clothing17", BACKBONE, quiet=True)
    pds, pfeats = dataset_features(args.data / "pbc_blood_cells", BACKBONE, quiet=True)
    classes = list(cds.classes)
    sel, conf = selection_split(classes)
    clabels = np.asarray(cds.labels)
    sel_rows = np.flatnonzero(np.isin(clabels, [classes.index(c) for c in sel]))
    conf_rows = np.flatnonzero(np.isin(clabels, [classes.index(c) for c in conf]))
    tests = {"clothing17, 7 confirmation classes": (cfeats[conf_rows], np.unique(clabels[conf_rows], return_inverse=True)[1]),
             "pbc_blood_cells, 8 classes": (pfeats, np.asarray(pds.labels))}
    lines = ["## Siamese and Relation heads meta-trained on ImageNet features (issue 18)", "",
             f"`python bench/bench_feature_heads.py --steps {args.steps} --episodes {args.episodes}` — "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}. "
             f"MobileNetV2 (ImageNet) embeddings; heads trained on clothing17's selection classes ({', '.join(sel)}), "
             f"scored on classes they never saw. 5-way, 15 queries, {args.episodes} seeded episodes per cell, "
             "the same episodes in a row; accuracy % ± 95 % CI; Δ = paired difference to ProtoNet.", ""]
    heads, train_notes = {}, []
    for m in ("siamese", "relation"):
        learner, secs, curve = train_head(m, cfeats[sel_rows], clabels[sel_rows], args.steps)
        heads[m] = save_head(learner, m, args.save_dir / f"{m}.pt")
        train_notes.append(f"- {m}: {args.steps} steps in {secs:.0f} s (1 thread); training-episode accuracy by "
                           "step: " + ", ".join(f"{s}: {a:.1f}" for s, a in curve))
        print(train_notes[-1], flush=True)
    lines += train_notes + ["", "| test set | shots | protonet | siamese (fitted on the support, today) | siamese (meta-trained head) "
                            "| relation (fitted on the support, today) | relation (meta-trained head) | Δ siamese meta | Δ relation meta |",
                            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (f, y) in tests.items():
        for shots in (1, 5):
            eps = sample_episodes(y, 5, shots, 15, args.episodes, seed=0)
            cols = {"protonet": evaluate(f, eps, "protonet").accuracies * 100}
            for m in ("siamese", "relation"):
                cols[f"{m} fit"] = evaluate(f, eps, m).accuracies * 100
                cols[f"{m} meta"] = evaluate(f, eps, m, {"weights": str(heads[m])}).accuracies * 100

            def c(a):
                mu, ci = mean_ci95(a)
                return f"{mu:.1f} ± {ci:.1f}"

            deltas = [c(cols[f"{m} meta"] - cols["protonet"]) for m in ("siamese", "relation")]
            row = (f"| {name} | {shots} | {c(cols['protonet'])} | {c(cols['siamese fit'])} | {c(cols['siamese meta'])} | "
                   f"{c(cols['relation fit'])} | {c(cols['relation meta'])} | {deltas[0]} | {deltas[1]} |")
            lines.append(row)
            print(row, flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
