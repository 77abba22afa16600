"""Backbones across domains (issue 17): the suite table, ORT speed, first-start export, package size.

    nice .venv/bin/python bench/bench_backbones.py                         # everything, 600 episodes
    .venv/bin/python bench/bench_backbones.py --episodes 100 --no-speed    # quicker accuracy only
    .venv/bin/python bench/bench_backbones.py --adapted-episodes 10        # + adapted 5-shot rows

Suite: clothing17 (photos, all 17 classes), pbc_blood_cells (microscopy, far domain) and Omniglot's
small1 background set (drawn characters through ImageNet backbones; every character a class).  Every
backbone sees the SAME seeded 5-way episodes (core.episodes, seed 0, 15 queries per class); the
differences to today's default are paired per episode, with 95 % CIs.  Methods: ``protonet``
(inductive), ``softkmeans`` without a pool (it sees the queries only) and with a pool of M=10 unlabeled
images per class plus 10 x 5 distractors (as the app sees a project folder).  The ensemble rows
concatenate each member's L2-normalized embeddings (each scaled by 1/sqrt(members)); the methods then
center and normalize them like any embedding.  Results go to bench/results/backbones.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from accuracy_features import dataset_features  # noqa: E402

from core.backbones import DEFAULT_BACKBONE, get_backbone  # noqa: E402
from core.episodes import FolderDataset, evaluate, mean_ci95, sample_episodes  # noqa: E402
from core.paths import cache_dir  # noqa: E402

DATA = Path("/work/shared/data")
# the last two are the built-in ensemble backbones (core/backbones/ensemble.py): one graph on Lite2's crop
BACKBONES = ["mobilenet_v2_imagenet", "efficientnet_lite0_imagenet", "efficientnet_lite2_imagenet",
             "mobilenet_v2_lite2_imagenet", "mobilenet_v2_lite0_lite2_imagenet"]
ADAPTABLE = BACKBONES[:3]  # the built-in ensembles adapt too (their MobileNetV2); ask for them by name
ENSEMBLE = ("mobilenet_v2_imagenet", "efficientnet_lite2_imagenet")
# the same two, each embedded on its own crop and joined here (what the suite measured first)
ENSEMBLE_ID = "ensemble: mobilenet_v2 + lite2"
SHORT = {"mobilenet_v2_imagenet": "MobileNetV2", "efficientnet_lite0_imagenet": "Lite0",
         "efficientnet_lite2_imagenet": "Lite2", "mobilenet_v2_lite2_imagenet": "MNv2 ⊕ Lite2 (built in)",
         "mobilenet_v2_lite0_lite2_imagenet": "MNv2 ⊕ Lite0 ⊕ Lite2 (built in)",
         ENSEMBLE_ID: "MNv2 ⊕ Lite2 (own crops)"}
# (row label, method, unlabeled pool per class)
METHODS = [("protonet", "protonet", 0), ("softkmeans, M=0", "softkmeans", 0), ("softkmeans, M=10", "softkmeans", 10)]


def omniglot_folder(zip_path: Path) -> Path:
    """Lake's small1 background set unpacked as one folder per character (alphabet__characterNN)."""
    out = cache_dir() / "bench" / "omniglot_small1"
    done = out / ".complete"
    if done.exists():
        return out
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) >= 4 and parts[-1].endswith(".png"):
                dest = out / f"{parts[-3]}__{parts[-2]}" / parts[-1]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
    done.touch()
    return out


def suite(data: Path, which: list[str]) -> dict[str, Path]:
    avail = {"clothing17": data / "clothing17", "pbc_blood_cells": data / "pbc_blood_cells"}
    if "omniglot" in which and (data / "omniglot" / "images_background_small1.zip").exists():
        avail["omniglot"] = omniglot_folder(data / "omniglot" / "images_background_small1.zip")
    return {k: v for k, v in avail.items() if k in which and v.exists()}


def features(root: Path) -> tuple[FolderDataset, dict[str, np.ndarray], dict[str, float]]:
    feats, secs = {}, {}
    ds = None
    for bid in BACKBONES:
        t = time.perf_counter()
        d, f = dataset_features(root, bid, quiet=True)
        secs[bid] = time.perf_counter() - t
        if ds is not None and [str(p) for p in d.paths] != [str(p) for p in ds.paths]:
            raise SystemExit(f"{root}: backbones embedded different files (a decode error?)")
        ds, feats[bid] = d, f
    parts = [f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12) for f in (feats[b] for b in ENSEMBLE)]
    feats[ENSEMBLE_ID] = (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)
    return ds, feats, secs


def run_suite(datasets: dict[str, Path], episodes: int, shots_list: list[int], adapted_episodes: int,
              adapted_on: list[str], adapted_backbones: list[str] = ADAPTABLE, frozen: bool = True,
              adapted_shots: int = 5) -> list[dict]:
    rows = []
    for name, root in datasets.items():
        ds, feats, secs = features(root)
        labels = np.asarray(ds.labels)
        print(f"{name}: {len(labels)} images, {labels.max() + 1} classes; embed/cache s "
              + ", ".join(f"{SHORT[b]} {s:.0f}" for b, s in secs.items()), flush=True)
        for shots in shots_list if frozen else []:
            for label, method, pool in METHODS:
                eps = sample_episodes(labels, 5, shots, 15, episodes, seed=0, unlabeled_pool=pool)
                accs = {}
                for bid, f in feats.items():
                    accs[bid] = evaluate(f, eps, method).accuracies * 100
                rows.append({"dataset": name, "shots": shots, "method": label, "episodes": episodes, "accs": accs})
                print(f"  {shots}-shot {label}: " + ", ".join(f"{SHORT[b]} {a.mean():.1f}" for b, a in accs.items()),
                      flush=True)
        if adapted_episodes and name in adapted_on:
            rows.extend(adapted_rows(name, ds, feats, adapted_episodes, adapted_backbones, adapted_shots))
    return rows


def _unit(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def adapted_rows(name: str, ds, feats, n: int, backbones: list[str] = ADAPTABLE, shots: int = 5) -> list[dict]:
    """``shots``-shot softkmeans (M=0) with each backbone's last stage adapted per episode (core.adaptation);
    then the ensembles of an adapted MobileNetV2 with Lite2, frozen and adapted, on the same
    episodes and the same adapted networks (each episode's adapted features are kept)."""
    from core.adaptation import adapted_episode, adapted_method_kwargs

    eps = sample_episodes(np.asarray(ds.labels), 5, shots, 15, n, seed=0)
    kwargs = adapted_method_kwargs("softkmeans")
    accs, secs, kept = {}, {}, {}
    for bid in backbones:
        kept[bid] = {}

        def adapted(ep, b=bid):
            out = adapted_episode(ds.paths, feats[b], ep, b)
            kept[b][id(ep)] = out
            return out

        t = time.perf_counter()
        res = evaluate(feats[bid], eps, "softkmeans", kwargs, episode_features=adapted)
        accs[bid], secs[bid] = res.accuracies * 100, (time.perf_counter() - t) / n
        print(f"  adapted {SHORT[bid]}: {accs[bid].mean():.1f} ({secs[bid]:.1f} s/episode)", flush=True)
    rows = [{"dataset": name, "shots": shots, "method": "softkmeans, M=0, last stage adapted", "episodes": n,
             "accs": accs, "secs": secs}]
    mnv2, lite2 = ENSEMBLE
    if mnv2 not in kept:
        return rows

    def mixed(ep, lite_adapted: bool):
        f_m, local = kept[mnv2][id(ep)]
        if lite_adapted:
            f_l = kept[lite2][id(ep)][0]
        else:
            f_l = feats[lite2][np.concatenate([ep.support, ep.unlabeled, ep.query]).astype(np.int64)]
        return (np.concatenate([_unit(f_m), _unit(f_l)], axis=1) / np.sqrt(2)).astype(np.float32), local

    variants = [("MNv2 adapted ⊕ Lite2 frozen", False)] + ([("MNv2 ⊕ Lite2, both adapted", True)]
                                                            if lite2 in kept else [])
    for label, lite_adapted in variants:
        res = evaluate(feats[ENSEMBLE_ID], eps, "softkmeans", kwargs,
                       episode_features=lambda ep, la=lite_adapted: mixed(ep, la))
        acc = res.accuracies * 100
        d = acc - accs[mnv2]
        print(f"  {label}: {acc.mean():.1f} (vs adapted MobileNetV2 {d.mean():+.1f})", flush=True)
        rows.append({"dataset": name, "shots": shots, "method": f"softkmeans, M=0, {label}", "episodes": n,
                     "accs": {mnv2: accs[mnv2], ENSEMBLE_ID: acc}})
    return rows


def cell(a: np.ndarray) -> str:
    m, ci = mean_ci95(a)
    return f"{m:.1f} ± {ci:.1f}"


def diff_cell(a: np.ndarray, base: np.ndarray) -> str:
    m, ci = mean_ci95(a - base)
    return f"{m:+.1f} ± {ci:.1f}"


def suite_markdown(rows: list[dict]) -> list[str]:
    cols = BACKBONES + [ENSEMBLE_ID]
    out = ["| suite member | shots | method | episodes | " + " | ".join(SHORT[c] for c in cols)
           + " | " + " | ".join(f"Δ {SHORT[c]}" for c in cols[1:]) + " |",
           "|---|---|---|---|" + "---|" * (2 * len(cols) - 1)]
    for r in rows:
        accs, base = r["accs"], r["accs"][DEFAULT_REF]
        present = [c for c in cols if c in accs]
        out.append(f"| {r['dataset']} | {r['shots']} | {r['method']} | {r['episodes']} | "
                   + " | ".join(cell(accs[c]) if c in accs else "-" for c in cols) + " | "
                   + " | ".join(diff_cell(accs[c], base) if c in present else "-" for c in cols[1:]) + " |")
    return out


def default_verdict(rows: list[dict]) -> list[str]:
    """Issue 17's rule: a candidate may replace the default only if it never loses > 1 point anywhere."""
    lines = []
    frozen = [r for r in rows if "adapted" not in r["method"]]
    for c in BACKBONES[1:] + [ENSEMBLE_ID]:
        worst = min(frozen, key=lambda r: r["accs"][c].mean() - r["accs"][DEFAULT_REF].mean())
        d = worst["accs"][c].mean() - worst["accs"][DEFAULT_REF].mean()
        gains = [r["accs"][c].mean() - r["accs"][DEFAULT_REF].mean() for r in frozen]
        ok = d >= -1.0
        lines.append(f"- {SHORT[c]}: worst frozen cell {d:+.1f} ({worst['dataset']}, {worst['shots']}-shot, "
                     f"{worst['method']}), mean gain {np.mean(gains):+.1f} over {len(frozen)} cells -> "
                     + ("**qualifies**" if ok else "does not qualify (loses more than 1 point)"))
    return lines


DEFAULT_REF = "mobilenet_v2_imagenet"  # the default the suite compares against (today's)
GOAL = {1: 60.0, 5: 76.0}  # issue 17's goal for the app's default on clothing17 (all 17 classes)


def goal_lines(rows: list[dict]) -> list[str]:
    """Issue 17's clothing17 goal, per backbone, for the default method (softkmeans) with and without a pool."""
    out = ["| backbone | " + " | ".join(f"{k}-shot {m} (goal >= {GOAL[k]:.0f})" for k in GOAL
                                       for m in ("M=0", "M=10")) + " |", "|---|" + "---|" * 4]
    cells = {(r["shots"], r["method"]): r for r in rows if r["dataset"] == "clothing17" and "adapted" not in r["method"]}
    for c in BACKBONES + [ENSEMBLE_ID]:
        vals = []
        for k in GOAL:
            for m in ("M=0", "M=10"):
                r = cells.get((k, f"softkmeans, {m}"))
                if r is None:
                    vals.append("-")
                    continue
                a = r["accs"][c].mean()
                vals.append(f"{a:.1f} ({'met' if a >= GOAL[k] else 'not met'})")
        out.append(f"| {SHORT[c]} | " + " | ".join(vals) + " |")
    return out


# --------------------------------------------------------------------------- speed, export, size
def speed(threads: int, passes: int = 5) -> list[str]:
    from core.embedder import Embedder
    from core.images import load_image

    photos = sorted((DATA / "clothing17").rglob("*.jpg"))[:64]
    out = ["| backbone | input | batch 1 ms/image | batch 32 ms/image |", "|---|---|---|---|"]
    for bid in BACKBONES:
        emb = Embedder(bid, device="cpu", threads=threads)
        x = emb.preprocess([load_image(p, min_side=emb.spec.resize_size) for p in photos])
        emb.embed_batch(x[:32])  # warm-up
        res = {}
        for batch in (1, 32):
            times = []
            for _ in range(passes):
                t = time.perf_counter()
                for i in range(0, len(x), batch):
                    emb.embed_batch(x[i:i + batch])
                times.append((time.perf_counter() - t) / len(x) * 1000)
            res[batch] = float(np.median(times))
        s = emb.spec.input_size
        out.append(f"| {bid} | {s}x{s} | {res[1]:.2f} | {res[32]:.2f} |")
        print(out[-1], flush=True)
    return out


def export_and_size() -> list[str]:
    from core.backbones.onnx_export import export_onnx

    out = ["| backbone | first-start export s (torch module + ONNX export) | ONNX MB | weights file MB | "
           "weights come from |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        import torch  # noqa: F401  (imported once before timing: the app imports it at export anyway)

        for bid in BACKBONES:
            spec = get_backbone(bid)
            t = time.perf_counter()
            path = export_onnx(spec, Path(tmp) / f"{bid}.onnx")
            secs = time.perf_counter() - t
            w = spec.weights_file
            if w is None:  # an ensemble: its members' files
                wmb, origin = "-", "its members'"
            else:
                wmb = f"{w.stat().st_size / 1e6:.1f}"
                origin = "assets/ (bundled)" if "assets" in str(w) else f"pip: {spec.source.split(',')[0][5:]}"
            out.append(f"| {bid} | {secs:.1f} | {path.stat().st_size / 1e6:.1f} | {wmb} | {origin} |")
            print(out[-1], flush=True)
    return out


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--datasets", default="clothing17,pbc_blood_cells,omniglot")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--adapted-episodes", type=int, default=0,
                    help="5-shot episodes (the first N of the frozen rows') with the last stage adapted")
    ap.add_argument("--adapted-shots", type=int, default=5, help="labels per class of the adapted rows")
    ap.add_argument("--adapted-datasets", default="clothing17", help="suite members that get adapted rows")
    ap.add_argument("--adapted-backbones", default=",".join(ADAPTABLE),
                    help="backbones that get adapted rows (the ensemble rows need mobilenet_v2_imagenet)")
    ap.add_argument("--adapted-only", action="store_true",
                    help="only the adapted rows (no frozen cells, default rule or goal table); implies --no-speed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backbones.md")
    args = ap.parse_args()
    DATA = args.data
    start, load0 = dt.datetime.now(dt.timezone.utc), load()
    datasets = suite(args.data, args.datasets.split(","))
    rows = run_suite(datasets, args.episodes, [int(s) for s in args.shots.split(",")], args.adapted_episodes,
                     args.adapted_datasets.split(","), args.adapted_backbones.split(","), frozen=not args.adapted_only,
                     adapted_shots=args.adapted_shots)
    args.no_speed = args.no_speed or args.adapted_only
    spd = [] if args.no_speed else speed(args.threads)
    exp = [] if args.no_speed else export_and_size()
    load1 = load()
    md = ["## Backbones across domains (issue 17)", "",
          f"Same seeded episodes for every backbone (5-way, 15 queries/class, seed 0); accuracy % ± 95 % CI; "
          f"Δ = paired per-episode difference to `{DEFAULT_REF}` (today's default) ± 95 % CI. "
          "Suite: " + ", ".join(f"`{k}` ({len(FolderDataset.from_folder(v))} images)" for k, v in datasets.items())
          + ". Ensembles: their members' embeddings, each L2-normalized, concatenated (*built in*: one ONNX graph "
          "the app runs; *own crops*: each member on its own crop, joined here).", ""]
    md += suite_markdown(rows)
    if not args.adapted_only:
        md += ["", "### Default rule (never more than 1 point below today's default on any frozen cell)", ""]
        md += default_verdict(rows)
    md += [f"- `core.backbones.DEFAULT_BACKBONE` at the time of this run: `{DEFAULT_BACKBONE}`"]
    if "clothing17" in datasets and not args.adapted_only:
        md += ["", "### Issue 17's goal on clothing17 (frozen features, 600 episodes, softkmeans = the app's method)",
               ""] + goal_lines(rows)
    adapted = [r for r in rows if "secs" in r]
    if adapted:
        md += ["", "Adapted rows: " + "; ".join(f"{r['dataset']}: " + ", ".join(
            f"{SHORT[b]} {s:.0f} s/episode" for b, s in r["secs"].items()) for r in adapted)
            + f" (CPU, {args.threads}-core machine shared with other jobs)."]
    if spd:
        md += ["", f"### Embedding speed through ONNX Runtime ({args.threads} threads, 64 clothing17 photos, "
                   "median of 5 passes, forward only)", ""] + spd
    if exp:
        md += ["", "### First-start export and size", ""] + exp
        lite = [get_backbone(b) for b in BACKBONES if b.startswith("efficientnet")]
        pth = sum(s.weights_file.stat().st_size for s in lite) / 1e6
        md += ["", f"Size added by the two Lite backbones: {pth:.1f} MB of installed weight files (the full bundle, "
                   "and every pip install); the light bundle ships their ONNX exports instead (sum of the ONNX "
                   "column for the Lite rows). First-start export = building the torch module from the weights "
                   "(MobileNetV2: parsing + dequantizing the TFLite file) + the dynamo ONNX export, torch already "
                   "imported."]
    md += ["", f"- Command: `{shlex.join(['python', 'bench/bench_backbones.py', *sys.argv[1:]])}`",
           f"- Date: {start:%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, {os.cpu_count()} logical CPUs; "
           f"load average at start {load0}, at end {load1} (shared machine: timings are noisy, inflated)"]
    raw = args.out.with_suffix(".npz")  # per-episode accuracies, for re-rendering or other comparisons
    np.savez_compressed(raw, **{f"{r['dataset']}|{r['shots']}|{r['method']}|{b}": a
                                for r in rows for b, a in r["accs"].items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
