"""Lake et al.'s (Science 2015) one-shot classification benchmark: 20 runs of 20-way within-alphabet
one-shot classification, read from ``all_runs.zip`` (or its unpacked folder).

It is a *test set*: nothing here trains or tunes on it.  Besides the official 400-query score,
:func:`runs_as_dataset` turns the 400 (training, test) image pairs into a 400-class, 2-image
dataset for N-way 1-shot episodes (the "evaluation images inside all_runs" rows of the benchmark).

Scorers take (support images, query images) and return (20, 20) class probabilities; test-time
augmentation averages embeddings over small shifts of each glyph, and several scorers (an
ensemble of checkpoints or methods) average their probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import FewLensError
from .datasets import MetaDataset, _Tree, load_glyph


@dataclass
class LakeRun:
    name: str
    train: np.ndarray  # (20, 1, S, S) uint8 ink maps, one per class
    test: np.ndarray  # (20, 1, S, S)
    answers: np.ndarray  # (20,) index into train of each test item's class


def load_runs(path: str | Path, store_size: int = 56) -> list[LakeRun]:
    tree = _Tree(Path(path))
    files = tree.files()
    label_files = sorted(f for f in files if f.name == "class_labels.txt")
    if not label_files:
        raise FewLensError(f"{path}: no runNN/class_labels.txt found (expected Lake's all_runs layout)")
    runs = []
    for lf in label_files:
        base = lf.parent
        pairs = []
        for line in tree.read(lf).decode().splitlines():
            parts = line.split()
            if len(parts) == 2:
                pairs.append((parts[0], parts[1]))
        train_names = sorted({t for _, t in pairs})
        tidx = {t: i for i, t in enumerate(train_names)}

        def glyph(rel):
            # class_labels.txt paths may be prefixed with the run folder; keep the last two parts
            r = base / PurePosixPath(*PurePosixPath(rel).parts[-2:])
            return load_glyph(tree.read(r), store_size, name=f"{path}:{r}")

        train = np.stack([glyph(t) for t in train_names])[:, None]
        test = np.stack([glyph(q) for q, _ in pairs])[:, None]
        answers = np.array([tidx[t] for _, t in pairs])
        runs.append(LakeRun(base.name, train, test, answers))
    return runs


def runs_as_dataset(runs: list[LakeRun], input_size: int = 28) -> MetaDataset:
    """400 classes (each run's 20 characters) x 2 images (its training and test drawing)."""
    images, names, groups = [], [], []
    for r in runs:
        for qi, ci in enumerate(r.answers):
            images.append(np.stack([r.train[ci], r.test[qi]]))
            names.append(f"{r.name}/class{ci + 1:02d}")
            groups.append(r.name)
    store = runs[0].train.shape[-1]
    return MetaDataset(images, names, groups, 1, store, input_size, "omniglot-eval", {})


# --- scoring --------------------------------------------------------------------------------

def tta_views(x, mode: str = "shift"):
    """Label-preserving views of a glyph batch for test-time augmentation.

    ``shift``: the glyph plus copies shifted by one pixel in x and y (5 views).
    ``rich``: those plus slightly rotated / scaled copies and thicker / thinner strokes (11 views).
    """
    import math

    import torch
    import torch.nn.functional as F

    views = [x]
    if mode in ("shift", "rich"):
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            views.append(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
    if mode == "rich":
        for deg, sc in ((-8, 1.0), (8, 1.0), (0, 0.92), (0, 1.08)):
            t = math.radians(deg)
            a = torch.tensor([[math.cos(t) / sc, -math.sin(t) / sc, 0.0], [math.sin(t) / sc, math.cos(t) / sc, 0.0]])
            grid = F.affine_grid(a.expand(len(x), 2, 3).to(x.dtype), list(x.shape), align_corners=False)
            views.append(F.grid_sample(x, grid, align_corners=False))
        views.append(F.max_pool2d(x, 3, 1, 1) * 0.5 + x * 0.5)  # thicker strokes (half-strength at 28 px)
        views.append(-F.max_pool2d(-x, 3, 1, 1) * 0.5 + x * 0.5)  # thinner
    elif mode != "shift":
        raise ValueError(f"unknown TTA mode {mode!r} (shift or rich)")
    return views


def score_runs(runs: list[LakeRun], scorers: list, input_size: int) -> dict:
    """Error over all queries and per run; probabilities of several scorers are averaged."""
    from .sampling import to_input

    per_run = []
    wrong_total, n_total = 0, 0
    for r in runs:
        store = r.train.shape[-1]
        xs = to_input(r.train, store, input_size)
        xq = to_input(r.test, store, input_size)
        probs = np.mean([s(xs, xq) for s in scorers], axis=0)
        wrong = int((probs.argmax(1) != r.answers).sum())
        per_run.append({"run": r.name, "errors": wrong, "queries": len(r.answers),
                        "error_pct": round(100.0 * wrong / len(r.answers), 2)})
        wrong_total += wrong
        n_total += len(r.answers)
    lo, hi = wilson_interval(wrong_total, n_total)
    return {"error_pct": round(100.0 * wrong_total / n_total, 2), "errors": wrong_total, "queries": n_total,
            "error_ci95_pct": [round(100 * lo, 2), round(100 * hi, 2)], "runs": per_run}


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion k/n (sound near 0, unlike the normal one)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, c - h)), float(min(1.0, c + h))


def score_episodes(ds: MetaDataset, scorers: list, ways: int, episodes: int, seed: int = 0) -> dict:
    """N-way 1-shot, 1 query per class episodes from the all_runs pairs: mean accuracy and 95% CI."""
    from .sampling import EpisodeShape, episode_rng, sample_episode, to_input

    shape = EpisodeShape(ways, 1, 1)
    accs = []
    for i in range(episodes):
        s_np, q_np, _ = sample_episode(ds, shape, episode_rng(seed, i))
        xs = to_input(s_np, ds.store_size, ds.input_size)
        xq = to_input(q_np, ds.store_size, ds.input_size)
        probs = np.mean([s(xs, xq) for s in scorers], axis=0)
        accs.append(float((probs.argmax(1) == np.arange(ways)).mean()))
    a = np.asarray(accs)
    return {"ways": ways, "shots": 1, "episodes": episodes, "accuracy": float(a.mean()),
            "ci95": float(1.96 * a.std(ddof=1) / np.sqrt(len(a)))}
