"""Issue 15 benchmarks: the per-episode model choice (`auto`), a simulated user labeling what the
app suggests, and the calibration of the accuracy estimate.

    python bench/bench_evaluation.py default  [--episodes 600]     # auto vs softkmeans vs protonet, 1-5 shots
    python bench/bench_evaluation.py user     [--repeats 4]        # suggestions vs random vs lowest confidence
    python bench/bench_evaluation.py calib    [--projects 40]      # estimate minus true accuracy on the rest
    python bench/bench_evaluation.py adapt    [--episodes 3]       # frozen vs adapted, 1-5 shots (CPU: ~18 s/episode)
    python bench/bench_evaluation.py adapt-auto [--episodes 3]     # auto / softkmeans / protonet on adapted features, 3 and 5 shots
    python bench/bench_evaluation.py render                         # rewrite bench/results/evaluation.md

Each section stores its numbers in bench/results/evaluation.json and re-renders
bench/results/evaluation.md (collect it into BENCHMARKS.md with bench/assemble_benchmarks.py).
Datasets: clothing17 (photos) and pbc_blood_cells (the far domain: microscopy for an ImageNet
backbone), from --data (default /work/shared/data).  Embeddings come from the user cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
STORE = RESULTS / "evaluation.json"
DATASETS = {"clothing17": "photos, 17 classes", "pbc_blood_cells": "far domain: blood-cell microscopy, 8 classes"}
BACKBONE = "mobilenet_v2_imagenet"


def load(data: Path, name: str):
    from core.embedder import Embedder
    from core.embedding_cache import EmbeddingCache
    from core.episodes import FolderDataset
    from core.pipeline import embed_files

    ds = FolderDataset.from_folder(data / name)
    with EmbeddingCache.default() as cache:
        res = embed_files(ds.paths, Embedder(BACKBONE, device="cpu"), cache=cache)
    return ds.with_embeddings(res.embeddings)


def store(section: str, value) -> None:
    data = json.loads(STORE.read_text()) if STORE.exists() else {}
    data[section] = value
    STORE.write_text(json.dumps(data, indent=1))


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    busy = " (other jobs ran beside it)" if max(load1, load5) > (os.cpu_count() or 1) else ""
    return f"{os.cpu_count()} cores, load average {load1:.1f} / {load5:.1f}{busy}"


# ----------------------------------------------------------------------------------- default choice
def run_default(args) -> None:
    from core.episodes import evaluate, sample_episodes

    out = {"episodes": args.episodes, "machine": machine(), "rows": []}
    for name in DATASETS:
        ds, feats = load(args.data, name)
        for shots in (1, 2, 3, 4, 5):
            eps = sample_episodes(ds.labels, 5, shots, 15, args.episodes, seed=0)
            for method in ("protonet", "softkmeans", "auto"):
                t0 = time.perf_counter()
                r = evaluate(feats, eps, method)
                out["rows"].append({"dataset": name, "shots": shots, "method": method, "acc": r.accuracy,
                                    "ci": r.ci95, "ece": r.ece, "s": time.perf_counter() - t0})
                print(name, shots, method, f"{r.accuracy:.2f} ± {r.ci95:.2f} ece {r.ece:.1f}", flush=True)
    store("default", out)


# ----------------------------------------------------------------------------------- simulated user
def fit_probs(feats, labels, method="softkmeans"):
    """The app's fit: labeled rows + the unlabeled pool (core/live_model.fit_predict)."""
    from core.methods import get_method

    lab = labels >= 0
    if not lab.any():
        return None
    m = get_method(method)
    pool = feats[~lab] if m.uses_unlabeled and (~lab).any() else None
    m.process_support_set(feats[lab], labels[lab], unlabeled=pool)
    return m, m.predict_proba(feats)


def accuracy_rest(feats, truth, labels, method="softkmeans") -> float:
    rest = labels < 0
    fitted = fit_probs(feats, labels, method)
    if fitted is None:
        return 0.0
    m, probs = fitted
    pred = np.asarray(m.classes_)[probs.argmax(1)]
    return float((pred[rest] == truth[rest]).mean())


def simulate(feats, truth, strategy: str, budget: int, batch: int, rng, method="softkmeans"):
    """Labels revealed from ground truth, one batch at a time; accuracy on the rest after each."""
    from core.evaluation.suggestions import suggest_labels

    n = len(truth)
    labels = np.full(n, -1, np.int64)
    curve = []
    if strategy == "stratified":
        # the episode setting: k random labels of every class (a user who already knows the classes)
        order = [rng.permutation(np.flatnonzero(truth == c)) for c in np.unique(truth)]
        # class by class, round-robin: after n labels every class has n // C or one more
        seq = [o[k] for k in range(max(len(o) for o in order)) for o in order if k < len(o)][:budget]
        for n_done, i in enumerate(seq, 1):
            labels[i] = truth[i]
            if n_done % batch == 0 or n_done == len(seq):
                curve.append((n_done, accuracy_rest(feats, truth, labels, method)))
        return curve
    while (labels >= 0).sum() < budget:
        free = np.flatnonzero(labels < 0)
        take = min(batch, budget - int((labels >= 0).sum()))
        fitted = fit_probs(feats, labels, method)
        if strategy == "random" or (strategy == "lowconf" and fitted is None):
            pick = rng.choice(free, take, replace=False)
        elif strategy == "lowconf":
            conf = fitted[1].max(1)
            pick = free[np.argsort(conf[free], kind="stable")[:take]]
        elif strategy == "suggest":
            probs = fitted[1] if fitted is not None else None
            pick = np.asarray([s.index for s in suggest_labels(feats, labels >= 0, probs, k=take)])
        else:
            raise ValueError(strategy)
        labels[pick] = truth[pick]
        curve.append((int((labels >= 0).sum()), accuracy_rest(feats, truth, labels, method)))
    return curve


def run_user(args) -> None:
    out = {"repeats": args.repeats, "batch": args.batch, "machine": machine(), "data": {}}
    for name in DATASETS:
        ds, feats = load(args.data, name)
        n_classes = len(ds.classes)
        budget = 10 * n_classes
        curves = {s: [] for s in ("suggest", "random", "stratified", "lowconf")}
        for rep in range(args.repeats):
            sub_rng = np.random.default_rng([rep, 99])
            keep = np.sort(sub_rng.choice(len(feats), int(0.9 * len(feats)), replace=False))
            f, y = feats[keep], ds.labels[keep]
            for s in curves:
                t0 = time.perf_counter()
                c = simulate(f, y, s, budget, args.batch, np.random.default_rng([rep, 7]))
                curves[s].append(c)
                print(name, rep, s, f"{c[-1][1]:.3f}", f"{time.perf_counter() - t0:.1f}s", flush=True)
        out["data"][name] = {"classes": n_classes, "curves": curves}
    store("user", out)


# ----------------------------------------------------------------------------------- calibration
def run_calib(args) -> None:
    from core.evaluation import evaluate_labels

    out = {"projects": args.projects, "machine": machine(), "rows": []}
    for name in DATASETS:
        ds, feats = load(args.data, name)
        for k in (2, 3, 5, 10):
            for method in ("softkmeans", "auto"):
                errs, covered = [], 0
                for p in range(args.projects):
                    rng = np.random.default_rng([p, k, 5])
                    classes = rng.choice(len(ds.classes), 5, replace=False)
                    rows = np.flatnonzero(np.isin(ds.labels, classes))
                    f, y = feats[rows], ds.labels[rows]
                    labels = np.full(len(rows), -1, np.int64)
                    for c in classes:
                        pick = rng.choice(np.flatnonzero(y == c), k, replace=False)
                        labels[pick] = c
                    ev = evaluate_labels(f, np.ones(len(rows), bool), labels, method=method)
                    used = ev.choice.method if ev.choice is not None else method
                    true = accuracy_rest(f, y, labels, used)
                    if ev.choice is not None and ev.choice.temperature_power != 1.0:
                        pass  # a power on the probabilities never changes the top class
                    errs.append(ev.accuracy - true)
                    covered += abs(ev.accuracy - true) <= ev.ci95
                e = 100 * np.asarray(errs)
                out["rows"].append({"dataset": name, "shots": k, "method": method, "mean": float(e.mean()),
                                    "sd": float(e.std(ddof=1)), "mae": float(np.abs(e).mean()),
                                    "within_ci": covered / args.projects})
                print(name, k, method, f"bias {e.mean():+.1f} sd {e.std(ddof=1):.1f} within ±CI {covered}/{args.projects}",
                      flush=True)
    store("calib", out)


# ----------------------------------------------------------------------------------- adaptation
def run_adapt(args) -> None:
    from core.adaptation import adapted_episode, adapted_method_kwargs
    from core.episodes import evaluate, sample_episodes

    out = {"episodes": args.episodes, "machine": machine(), "rows": []}
    for name in DATASETS:
        ds, feats = load(args.data, name)
        for shots in (1, 2, 3, 4, 5):
            eps = sample_episodes(ds.labels, 5, shots, 15, args.episodes, seed=0)
            frozen = evaluate(feats, eps, "softkmeans")
            t0 = time.perf_counter()
            adapted = evaluate(feats, eps, "softkmeans", method_kwargs=adapted_method_kwargs("softkmeans"),
                               episode_features=lambda ep: adapted_episode(ds.paths, feats, ep, BACKBONE))
            sec = (time.perf_counter() - t0) / args.episodes
            out["rows"].append({"dataset": name, "shots": shots, "frozen": frozen.accuracy, "frozen_ci": frozen.ci95,
                                "adapted": adapted.accuracy, "adapted_ci": adapted.ci95, "s_per_episode": sec})
            print(name, shots, f"frozen {frozen.accuracy:.1f} adapted {adapted.accuracy:.1f} ({sec:.0f} s/ep)", flush=True)
            store("adapt", out)


def run_adapt_auto(args) -> None:
    """The app's default since issue 15: ``auto`` on the adapted features, from 3 labels per class.
    Each episode's backbone is adapted once; every method runs on those same adapted features."""
    from core.adaptation import adapted_episode, adapted_method_kwargs
    from core.episodes import evaluate, sample_episodes

    out = {"episodes": args.episodes, "machine": machine(), "rows": []}
    for name in DATASETS:
        ds, feats = load(args.data, name)
        for shots in (3, 5):
            eps = sample_episodes(ds.labels, 5, shots, 15, args.episodes, seed=0)
            t0 = time.perf_counter()
            cache = {id(ep): adapted_episode(ds.paths, feats, ep, BACKBONE) for ep in eps}
            sec = (time.perf_counter() - t0) / args.episodes
            row = {"dataset": name, "shots": shots, "s_per_episode": sec}
            for method in ("protonet", "softkmeans", "auto"):
                fr = evaluate(feats, eps, method)
                ad = evaluate(feats, eps, method, method_kwargs=adapted_method_kwargs(method),
                              episode_features=lambda ep: cache[id(ep)])
                row[method] = {"frozen": fr.accuracy, "frozen_ci": fr.ci95, "adapted": ad.accuracy, "adapted_ci": ad.ci95}
            out["rows"].append(row)
            print(name, shots, {m: round(row[m]["adapted"], 1) for m in ("protonet", "softkmeans", "auto")},
                  f"({sec:.0f} s/ep)", flush=True)
            store("adapt_auto", out)


# ----------------------------------------------------------------------------------- report
def _at(curve, budget):
    """Accuracy once ``budget`` labels are in (the last point at or below it)."""
    acc = [a for b, a in curve if b <= budget]
    return acc[-1] if acc else float("nan")


def _labels_to_reach(mean_curve, target):
    for b, a in mean_curve:
        if a >= target:
            return b
    return None


def _saving(reach, budget) -> str:
    if not reach:
        return "not reached"
    f = 1 - reach / budget
    return f"{100 * f:.0f} % fewer" if f > 0 else "same" if f == 0 else f"{-100 * f:.0f} % more"


def _mean_curve(curves):
    budgets = sorted({b for c in curves for b, _ in c})
    return [(b, float(np.mean([_at(c, b) for c in curves]))) for b in budgets]


def render() -> None:
    data = json.loads(STORE.read_text()) if STORE.exists() else {}
    L = ["## Evaluation: per-project model choice, label suggestions, accuracy estimate (issue 15)", ""]
    L.append("MobileNetV2 (ImageNet) features, frozen unless said; datasets from `/work/shared/data`: "
             + "; ".join(f"`{k}` ({v})" for k, v in DATASETS.items()) + ". Script: `bench/bench_evaluation.py`.")
    L.append("")
    d = data.get("default")
    if d:
        L += ["### The default choice: `auto` vs `softkmeans` vs `protonet` (5-way, 15 queries, same episodes)", "",
              f"`python bench/bench_evaluation.py default --episodes {d['episodes']}` ({d['machine']}). "
              "Each row is what `fewlens eval --dataset DIR --ways 5 --shots K --queries 15 --episodes "
              f"{d['episodes']} --seed 0 --adapt off --method M --json` runs (same seeded episodes, frozen "
              "features, the episode's queries are the only unlabeled pool). `auto` chooses per episode from "
              "the support set alone (leave-one-out on the labels; core/evaluation/choice.py).", "",
              "| dataset | shots | protonet | softkmeans | **auto** | auto - protonet | auto - softkmeans | ECE auto / softkmeans |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
        rows = {(r["dataset"], r["shots"], r["method"]): r for r in d["rows"]}
        for name in DATASETS:
            for k in (1, 2, 3, 4, 5):
                p, s, a = (rows.get((name, k, m)) for m in ("protonet", "softkmeans", "auto"))
                if not (p and s and a):
                    continue
                L.append(f"| {name} | {k} | {p['acc']:.1f} ± {p['ci']:.1f} | {s['acc']:.1f} ± {s['ci']:.1f} | "
                         f"**{a['acc']:.1f} ± {a['ci']:.1f}** | {a['acc'] - p['acc']:+.1f} | {a['acc'] - s['acc']:+.1f} | "
                         f"{a['ece']:.1f} / {s['ece']:.1f} |")
        # the rule for making ``auto`` the default (issue 15): clothing17 within 1 point of today's
        # default at 1 and 5 shots, and the far domain never more than 1 point below plain ProtoNet
        c_ok = all(abs(rows[("clothing17", k, "auto")]["acc"] - rows[("clothing17", k, "softkmeans")]["acc"]) <= 1
                   for k in (1, 5) if ("clothing17", k, "auto") in rows)
        worst = min((rows[("pbc_blood_cells", k, "auto")]["acc"] - rows[("pbc_blood_cells", k, "protonet")]["acc"], k)
                    for k in (1, 2, 3, 4, 5) if ("pbc_blood_cells", k, "auto") in rows)
        verdict = "met" if c_ok and worst[0] >= -1 else "NOT met"
        from core.methods import DEFAULT_METHOD as default_method
        L += ["", f"Rule for making `auto` the default (clothing17 within 1 point of `softkmeans` at 1 and 5 shots: "
              f"{'yes' if c_ok else 'no'}; far domain never more than 1 point below `protonet`: worst "
              f"{worst[0]:+.1f} at {worst[1]} shots): **{verdict}**"
              + (", so the default stays `softkmeans` and `auto` is an option (*Auto* in the method box, "
                 "`--method auto`)." if verdict != "met" else f": the app's default is `{default_method}`"
                 + ("." if default_method == "auto" else " (below: what keeps `auto` from being the default)."))]
        L.append("")
    u = data.get("user")
    if u:
        L += ["### Simulated user: which images to label", "",
              f"`python bench/bench_evaluation.py user --repeats {u['repeats']} --batch {u['batch']}` ({u['machine']}). "
              "A project holds a random 90 % of the dataset (one subsample per repeat, the same for every strategy), "
              f"nothing labeled; each round the strategy picks {u['batch']} images, their true labels are revealed "
              "(a class is created the first time one of its images is labeled), the app's default fit "
              "(`softkmeans` with every unlabeled image as the pool) is refitted, and accuracy is measured on every "
              "image still unlabeled (images of classes not found yet count as wrong). Strategies: **suggest** "
              "(core/evaluation/suggestions.py: uncertain x diverse x far from every label), **random** (uniform "
              "over the unlabeled images), **lowest confidence** (the old *Needs review* sort; the first batch random), "
              "and **stratified random** (K random labels of every class: the episode setting, a user who already "
              "knows every class and labels evenly; an upper bound for random picking). Mean over repeats.", "",
              "| dataset | strategy | 1 / class | 2 | 3 | 5 | 10 | labels to reach random's 5/class | vs random's 5/class budget |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, res in u["data"].items():
            c = res["classes"]
            means = {s: _mean_curve(v) for s, v in res["curves"].items()}
            target_r = _at(means["random"], 5 * c)
            for s, title in (("suggest", "**suggest**"), ("random", "random"), ("lowconf", "lowest confidence"),
                             ("stratified", "stratified random")):
                m = means[s]
                reach = _labels_to_reach(m, target_r)
                cells = " | ".join(f"{100 * _at(m, k * c):.1f}" for k in (1, 2, 3, 5, 10))
                saving = _saving(reach, 5 * c)
                L.append(f"| {name} ({c} classes) | {title} | {cells} | {reach or '-'} | {saving} |")
            target_s = _at(means["stratified"], 5 * c)
            reach = _labels_to_reach(means["suggest"], target_s)
            L.append(f"| {name} | suggest vs stratified random's 5/class ({100 * target_s:.1f} %) | | | | | | "
                     f"{reach or '-'} | {_saving(reach, 5 * c)} |")
        L.append("")
    cal = data.get("calib")
    if cal:
        L += ["### Calibration of the accuracy estimate", "",
              f"`python bench/bench_evaluation.py calib --projects {cal['projects']}` ({cal['machine']}). "
              f"{cal['projects']} simulated projects per row: 5 random classes of the dataset, all their images, K random "
              "labels per class, the rest unlabeled. Estimate = leave-one-out accuracy on the labels "
              "(core/evaluation/report.py, what the main window shows); truth = accuracy of the same method, fitted on "
              "all the labels, on the unlabeled rest. Error = estimate - truth, points.", "",
              "| dataset | labels / class | method | mean error | spread (sd) | mean abs error | truth within the ± shown |",
              "|---|---:|---|---:|---:|---:|---:|"]
        for r in cal["rows"]:
            L.append(f"| {r['dataset']} | {r['shots']} | {r['method']} | {r['mean']:+.1f} | {r['sd']:.1f} | "
                     f"{r['mae']:.1f} | {100 * r['within_ci']:.0f} % |")
        L.append("")
    ad = data.get("adapt")
    if ad:
        L += ["### Frozen vs adapted backbone at 1-5 labels per class (same episodes)", "",
              f"`python bench/bench_evaluation.py adapt --episodes {ad['episodes']}` ({ad['machine']}): "
              f"only {ad['episodes']} episodes per cell on the CPU, so the intervals are wide.", "",
              "| dataset | shots | frozen softkmeans | adapted + softkmeans | s / episode |", "|---|---:|---:|---:|---:|"]
        for r in ad["rows"]:
            L.append(f"| {r['dataset']} | {r['shots']} | {r['frozen']:.1f} ± {r['frozen_ci']:.1f} | "
                     f"{r['adapted']:.1f} ± {r['adapted_ci']:.1f} | {r['s_per_episode']:.0f} |")
        L.append("")
    aa = data.get("adapt_auto")
    if aa:
        L += ["### The default from 3 labels per class: `auto` on the adapted backbone (same episodes)", "",
              f"`python bench/bench_evaluation.py adapt-auto --episodes {aa['episodes']}` ({aa['machine']}). Each "
              "episode's backbone is adapted once (core.adaptation, the app's recipe) and every method runs on those "
              "adapted features; the frozen columns are the same episodes on the pretrained features.", "",
              "| dataset | shots | frozen protonet | frozen softkmeans | frozen auto | adapted protonet | adapted softkmeans "
              "| **adapted auto** (the app) | s / episode |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in aa["rows"]:
            f = " | ".join(f"{r[m]['frozen']:.1f} ± {r[m]['frozen_ci']:.1f}" for m in ("protonet", "softkmeans", "auto"))
            a = " | ".join(f"{r[m]['adapted']:.1f} ± {r[m]['adapted_ci']:.1f}" for m in ("protonet", "softkmeans"))
            L.append(f"| {r['dataset']} | {r['shots']} | {f} | {a} | **{r['auto']['adapted']:.1f} ± "
                     f"{r['auto']['adapted_ci']:.1f}** | {r['s_per_episode']:.0f} |")
        L.append("")
    (RESULTS / "evaluation.md").write_text("\n".join(L) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("section", choices=["default", "user", "calib", "adapt", "adapt-auto", "render"])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--episodes", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--projects", type=int, default=40)
    args = ap.parse_args()
    if args.episodes is None:
        args.episodes = 3 if args.section in ("adapt", "adapt-auto") else 600
    {"default": run_default, "user": run_user, "calib": run_calib, "adapt": run_adapt,
     "adapt-auto": run_adapt_auto}.get(args.section, lambda a: None)(args)
    render()


if __name__ == "__main__":
    main()
