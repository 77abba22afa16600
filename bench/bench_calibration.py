"""Bench: is the shown confidence right as often as it says, and what does "unknown" mean (issue 10).

Before = what shipped: ``softkmeans`` with its photo-fitted output temperature (T = 5 * shots ** 0.24),
and the old automatic threshold (10th percentile of leave-one-out confidences, refitted without the
unlabeled pool, as ``core.live_model`` did).  After = the same predictions with the per-project factor
(``core.methods.calibration.calibrate_on_labels``: leave-one-out on the labels, shrunk toward 1) and the
threshold for a target error rate (``threshold_for_error``).  Same episodes, same accuracy.

Settings, per dataset and labels per class (1, 3, 5), frozen features:
- 5-way: ``core.episodes`` seed 0, 15 queries per class, an unlabeled pool of 10 per class plus 10 x 5
  distractors (a project folder holds unlabeled classes); the threshold is chosen on the pool + queries
  (the project's unlabeled images), scored on the queries.
- whole project: every class labeled with K images, every other image unlabeled and scored (what the app
  sees with the dataset as one project); one draw per seed.
- ``--adapted N``: N 5-way 5-shot episodes on features adapted to each episode's labels
  (``core.adaptation.adapted_episode``, the app's path: the offline adapted temperature, no per-project
  factor, the target-error threshold on the adapted confidences; "before" = the old threshold, frozen).

    nice -n 10 .venv/bin/python bench/bench_calibration.py --episodes 100 --draws 10 --adapted 4
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

from core.episodes import FolderDataset, expected_calibration_error, run_episode, sample_episodes  # noqa: E402
from core.methods import get_method  # noqa: E402
from core.methods.calibration import (  # noqa: E402
    PRIOR_LOG_SD,
    TARGET_ERROR,
    calibrate_on_labels,
    power_scale,
    support_unknown_threshold,
    threshold_for_error,
)

BACKBONE = "mobilenet_v2_imagenet"
METHOD = "softkmeans"
BINS = 15
TARGET = TARGET_ERROR  # --target
PRIOR_SD = PRIOR_LOG_SD  # --prior-sd


def features(path: Path):
    from core.embedder import Embedder
    from core.embedding_cache import EmbeddingCache
    from core.pipeline import embed_files

    ds = FolderDataset.from_folder(path)
    res = embed_files(ds.paths, Embedder(BACKBONE, device="cpu"), cache=EmbeddingCache.default())
    ds, feats = ds.with_embeddings(res.embeddings)
    return ds, feats


class Tally:
    """Pooled predictions of one setting, before and after."""

    def __init__(self):
        self.conf = {"before": [], "after": []}
        self.ok = []
        self.kept = {"before": [], "after": []}
        self.thresholds = {"before": [], "after": []}
        self.factors, self.ms = [], []

    def add(self, probs_before, probs_after, labels, thr_before, thr_after, factor, ms):
        ok = probs_before.argmax(1) == labels
        self.ok.append(ok)
        for tag, p, t in (("before", probs_before, thr_before), ("after", probs_after, thr_after)):
            c = p.max(1)
            self.conf[tag].append(c)
            self.kept[tag].append(c >= t)
            self.thresholds[tag].append(t)
        self.factors.append(factor)
        self.ms.append(ms)

    def row(self, tag: str) -> dict:
        conf, ok, kept = (np.concatenate(self.conf[tag]), np.concatenate(self.ok), np.concatenate(self.kept[tag]))
        hi = conf >= 0.9
        return {
            "acc": 100 * ok.mean(), "ece": 100 * expected_calibration_error(conf, ok, BINS),
            "hi_share": 100 * hi.mean(), "hi_acc": 100 * ok[hi].mean() if hi.any() else float("nan"),
            "flagged": 100 * (1 - kept.mean()),
            "err_above": 100 * (1 - ok[kept].mean()) if kept.any() else float("nan"), "n_kept": int(kept.sum()),
            "thr": 100 * float(np.mean(self.thresholds[tag])),
        }


def predict(feats, support, support_labels, pool, query, probs_features=None, method_kwargs=None):
    """(probs before, probs after, threshold before, threshold after, factor, calibration ms).
    ``probs_features``: the features predictions come from (adapted), when they differ from ``feats``."""
    make = lambda: get_method(METHOD)  # noqa: E731
    pf = feats if probs_features is None else probs_features
    m = get_method(METHOD, **(method_kwargs or {}))
    m.process_support_set(pf[support], support_labels, unlabeled=pf[pool])
    scored = np.unique(np.concatenate([pool, query]))  # the project's unlabeled images
    p_all = m.predict_proba(pf[scored])
    at = {r: i for i, r in enumerate(scored)}
    q = np.asarray([at[r] for r in query])
    # before: the old auto threshold (core.live_model: labeled rows only, no pool, 20 per class at most)
    thr_before = support_unknown_threshold(make, feats[support], support_labels)
    t0 = time.perf_counter()
    cal = calibrate_on_labels(make, feats[support], support_labels, unlabeled=feats[pool], prior_log_sd=PRIOR_SD)
    # adapted features: no per-project factor (core.live_model.project_confidence_factor): the first run of this
    # bench applied the frozen features' factor to them and ECE rose 6.0 -> 11.8 % (clothing17), 5.4 -> 17.6 %
    factor = 1.0 if probs_features is not None else cal.factor
    after = power_scale(p_all, factor)
    thr_after = threshold_for_error(after.max(1), TARGET)
    ms = (time.perf_counter() - t0) * 1e3
    return p_all[q], after[q], (thr_before if thr_before is not None else 0.0), thr_after, factor, ms


def five_way(feats, labels, shots, episodes, tally, adapted=None):
    for ep in sample_episodes(labels, 5, shots, 15, episodes, seed=0, unlabeled_pool=10):
        pool = np.concatenate([ep.unlabeled, ep.query])
        if adapted is None:
            out = predict(feats, ep.support, ep.support_labels, pool, ep.query)
        else:
            from core.adaptation import adapted_method_kwargs

            a_feats, local = adapted(ep)
            rows = np.concatenate([ep.support, ep.unlabeled, ep.query])
            out = predict(feats[rows], local.support, local.support_labels,
                          np.concatenate([local.unlabeled, local.query]), local.query,
                          probs_features=a_feats, method_kwargs=adapted_method_kwargs(METHOD))
        tally.add(*out[:2], ep.query_labels, *out[2:])


def whole_project(feats, labels, shots, draws, tally):
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        support = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:shots] for c in np.unique(labels)])
        rest = np.setdiff1d(np.arange(len(labels)), support)
        out = predict(feats, support, labels[support], rest, rest)
        tally.add(*out[:2], labels[rest], *out[2:])


def num(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:.1f}"


def table_row(name: str, setting: str, shots: int, t: Tally) -> str:
    b, a = t.row("before"), t.row("after")
    return (f"| {name} | {setting} | {shots} | {b['acc']:.1f} | {b['ece']:.1f} | **{a['ece']:.1f}** | "
            f"{num(b['hi_acc'])} ({b['hi_share']:.0f} %) | {num(a['hi_acc'])} ({a['hi_share']:.0f} %) | "
            f"{b['thr']:.0f} → {a['thr']:.0f} | {b['flagged']:.0f} → {a['flagged']:.0f} | "
            f"{num(b['err_above'])} → **{num(a['err_above'])}** (n={a['n_kept']}) | {np.mean(t.factors):.2f} |")


def reliability(tallies: list[Tally]) -> list[str]:
    """Per-bin confidence vs accuracy, pooled over the given settings."""
    ok = np.concatenate([np.concatenate(t.ok) for t in tallies])
    lines = ["| confidence bin | before: n / mean conf / accuracy | after: n / mean conf / accuracy |", "|---|---|---|"]
    cells = {}
    for tag in ("before", "after"):
        conf = np.concatenate([np.concatenate(t.conf[tag]) for t in tallies])
        which = np.minimum((conf * BINS).astype(np.int64), BINS - 1)
        for b in range(BINS):
            sel = which == b
            cells[tag, b] = (f"{sel.sum()} / {100 * conf[sel].mean():.0f} / {100 * ok[sel].mean():.0f}"
                             if sel.any() else "0")
    for b in range(BINS):
        lines.append(f"| {100 * b / BINS:.0f}–{100 * (b + 1) / BINS:.0f} % | {cells['before', b]} | {cells['after', b]} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent.parent / "shared/data"),
                    help="folder holding clothing17/ and pbc_blood_cells/")
    ap.add_argument("--datasets", nargs="+", default=["clothing17", "pbc_blood_cells"])
    ap.add_argument("--shots", nargs="+", type=int, default=[1, 3, 5])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--adapted", type=int, default=0, help="5-way 5-shot episodes on adapted features")
    ap.add_argument("--prior-sd", type=float, default=PRIOR_LOG_SD, help="sd of the prior on log(factor)")
    ap.add_argument("--target", type=float, default=TARGET_ERROR, help="target error rate above the threshold")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "calibration.md"))
    args = ap.parse_args()
    global TARGET, PRIOR_SD
    TARGET, PRIOR_SD = args.target, args.prior_sd
    t_start = time.time()
    head = ("| dataset | setting | labels/class | accuracy % | ECE % before | ECE % after | shown >= 90 %: "
            "accuracy (share) before | after | auto threshold % before → after | flagged unknown % before → after | "
            "error above the threshold % before → after | factor |")
    table = [head, "|" + "---|" * 12]
    five = {}
    for name in args.datasets:
        ds, feats = features(Path(args.data) / name)
        for shots in args.shots:
            for setting in ("5-way", "whole project"):
                t = Tally()
                if setting == "5-way":
                    five_way(feats, ds.labels, shots, args.episodes, t)
                    five[name, shots] = t
                else:
                    whole_project(feats, ds.labels, shots, args.draws, t)
                n_classes = 5 if setting == "5-way" else len(ds.classes)
                table.append(table_row(name, f"{setting} ({n_classes} classes)", shots, t))
                print(table[-1], flush=True)
        if args.adapted:
            from core.adaptation import adapted_episode

            t = Tally()
            t0 = time.time()
            five_way(feats, ds.labels, 5, args.adapted, t,
                     adapted=lambda ep: adapted_episode(ds.paths, feats, ep, BACKBONE))
            table.append(table_row(name, f"5-way, **adapted** features ({args.adapted} episodes, "
                                         f"{time.time() - t0:.0f} s)", 5, t))
            print(table[-1], flush=True)
    ms = [m for t in five.values() for m in t.ms]
    cmd = " ".join(["bench/bench_calibration.py"] + sys.argv[1:])
    out = [
        "## Calibration: shown confidence and the automatic unknown threshold (issue 10)", "",
        f"Command: `nice -n 10 .venv/bin/python {cmd}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"(shared with other jobs: load average at end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}), "
        f"backbone {BACKBONE} (frozen, ONNX Runtime), method `{METHOD}`, run time {time.time() - t_start:.0f} s.",
        "",
        f"Before: the shipped output temperature and the old automatic threshold (10th percentile of leave-one-out "
        f"confidences). After: the per-project factor fitted by leave-one-out on the labels (prior: factor 1, "
        f"log-sd {PRIOR_SD}) and the threshold for a "
        f"target error of {100 * TARGET:.0f} % (predictions at or above it expected to be wrong at most that "
        f"often). Same predictions, so accuracy is one column. 5-way: {args.episodes} episodes, 15 queries per class, "
        f"pool of 10 unlabeled per class + 50 distractors; whole project: {args.draws} draws, every other image scored. "
        f"ECE: {BINS} equal-width bins of the top-class confidence. \"Error above the threshold\": share of wrong "
        f"predictions among those not flagged unknown (target {100 * TARGET:.0f} %).",
        "",
        *table, "",
        f"Cost of the new calibration (leave-one-out refits + threshold), 5-way settings: median "
        f"{np.median(ms):.0f} ms, max {np.max(ms):.0f} ms per refit (loaded machine).", "",
    ]
    out += [
        "Reading it:",
        "- The per-project factor is what fixes the far domain: the photo-fitted temperature says 90 % for "
        "cells it gets right about half the time; leave-one-out on 3-5 labels per class finds a factor of "
        "about 0.5 and ECE falls to single digits. On clothing17 (where the temperature was fitted) it stays "
        "near 1 (0.90-1.02) and ECE mostly moves by a point or two; the 17-class 3-label project got worse "
        "(3.8 -> 7.6 %): with 17 classes only 2 images per class are held out (the cost bound, 40 in all).",
        "- At 1 label per class nothing can be held out: the shipped temperature (the prior) stands, and on "
        "the far domain confidence stays overconfident. That case is not fixed.",
        "- The threshold for a target error reads calibrated confidences literally, so where they are "
        "still optimistic at the top (pbc at 1-3 labels; the factor is shrunk toward 1 and leave-one-out "
        "models have one label fewer) the error above it exceeds the target. Where calibration holds it is "
        "near the target. When almost nothing qualifies, almost everything is flagged: that is the honest "
        "answer for a 17-class project at 1-5 labels (30-47 % accurate), and the tooltip says to label more.",
        "- Adapted features: the first run of this bench applied the frozen features' factor to them and "
        "ECE rose from 6.0 to 11.8 % (clothing17) and 5.4 to 17.6 % (pbc, 3 episodes each); adapting already "
        "corrects what the factor would, so the app fits no factor there (the rows above: factor 1.00).",
        "- n = predictions not flagged unknown (the sample the \"error above\" is measured on).", "",
    ]
    for name in args.datasets:
        shots = max(args.shots)
        if (name, shots) in five:
            out += [f"Reliability, {name}, 5-way {shots}-shot (all episodes pooled; n / mean confidence % / "
                    f"accuracy %):", "", *reliability([five[name, shots]]), ""]
    Path(args.out).write_text("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
