"""Bench the live camera loop: 640x480 video through ONNX Runtime, frozen and adapted backbone.

    python bench/bench_camera.py [--data /work/shared/data/clothing17] [--seconds 15]

Builds a 5-class x 5-shot support folder from clothing17 (symlinks, seeded choice), writes
640x480 MJPG videos of held-out photos of those classes (one photo per second, panning a
little so consecutive frames differ) at 30 and 60 fps, and runs

    fewlens camera-bench --source VIDEO --support DIR --seconds S --adapt off|on --json

on each: the same CameraLoop the Camera panel runs (a reader thread delivering the video at its
own rate, as a camera would; recognition always takes the newest frame).  Writes
bench/results/camera.md.  Goal (issue 13): >= 30 frames recognized per second with a median
frame-to-result latency under 60 ms, frozen and adapted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent.parent / "shared" / "data" / "clothing17"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/clothing17")
WAYS, SHOTS, SEED = 5, 5, 13


def build_support(data: Path, out: Path) -> tuple[list[str], dict[str, list[Path]]]:
    """SHOTS examples per class into out/<class>/ (symlinks); returns classes and held-out photos."""
    rng = random.Random(SEED)
    classes = sorted(d.name for d in data.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= SHOTS + 20)
    chosen = sorted(rng.sample(classes, WAYS))
    held = {}
    for c in chosen:
        files = sorted((data / c).glob("*.jpg"))
        rng.shuffle(files)
        (out / c).mkdir(parents=True)
        for f in files[:SHOTS]:
            (out / c / f.name).symlink_to(f)
        held[c] = files[SHOTS:SHOTS + 20]
    return chosen, held


def write_video(path: Path, held: dict[str, list[Path]], fps: int, seconds: float) -> None:
    import cv2
    import numpy as np
    from PIL import Image

    photos = [p for k in range(20) for c in sorted(held) for p in held[c][k:k + 1]]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for k in range(int(fps * seconds)):
        if k % fps == 0:  # a new photo each second, decoded once
            img = Image.open(photos[(k // fps) % len(photos)]).convert("RGB")
            photo = np.asarray(img.resize((560, 520)))[:, :, ::-1]
        shift = (k % fps) * 40 // fps  # pan 40 px over the second
        frame = np.full((480, 640, 3), 35, np.uint8)
        frame[:, 60:580] = photo[20:500, shift:shift + 520]
        w.write(frame)
    w.release()


def run_bench(video: Path, support: Path, seconds: float, adapt: str, backbone: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "core.cli", "camera-bench", "--source", str(video), "--support", str(support),
           "--seconds", str(seconds), "--adapt", adapt, "--json"] + (["--backbone", backbone] if backbone else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    doc = json.loads(out.stdout)
    doc["wall_s"] = time.perf_counter() - t0
    return doc


RUNS = ROOT / "bench" / "results" / "camera_runs.jsonl"
ROW_KEYS = ("source_fps", "adapted", "engine", "frames_read", "frames_recognized", "fps", "latency_median_ms",
            "latency_p95_ms")


def adaptable(backbone: str | None) -> bool:
    if backbone is None:
        return True
    sys.path.insert(0, str(ROOT))
    from core.adaptation import can_adapt

    return can_adapt(backbone)


def goal(r: dict) -> str:
    if r["fps"] >= 30 and r["latency_median_ms"] < 60:
        return "met"
    if r["source_fps"] == 30 and r["latency_median_ms"] < 60 and r["frames_recognized"] >= 0.95 * r["frames_read"]:
        return "kept up: every frame the 30 fps source gave"
    return "not met"


def render(runs: list[dict], seconds: float) -> str:
    """bench/results/camera.md from every recorded run (the machine's load differs run to run)."""
    classes = runs[-1]["classes"]
    lines = [
        "## Live camera: frames recognized per second and frame-to-result latency",
        "",
        "What it does: the Camera panel's loop (`core.camera.CameraLoop`, run headless by `fewlens camera-bench`)",
        f"on 640x480 MJPG videos delivered at their own frame rate, as a webcam delivers frames; a {WAYS}-way",
        f"{SHOTS}-shot support set from clothing17 (classes {', '.join(classes)}; seed {SEED}), held-out photos",
        "of those classes in the video (one per second, panning). Each frame's centered 480x480 square is",
        "preprocessed as an image file is and embedded by MobileNetV2 on ONNX Runtime (CPU), then scored by",
        "the default method. *fps* = frames recognized per second (recognition takes the newest frame and",
        "drops stale ones, so it can be below the source rate); *latency* = from the moment the frame was",
        "read to its result being ready (a real camera adds its own exposure/driver delay before that).",
        "The adapted rows first fine-tune the backbone's last stage on the 25 examples (`--adapt on`,",
        "`core.adaptation`), then recognize with the adapted network's ONNX Runtime export.",
        "",
        "Machine: the shared 2-core build box, with other engineers' tests and benches running: the load",
        "average changed a lot between runs, so every run is listed with its load (the bench appends each",
        "run to `bench/results/camera_runs.jsonl`). Command:",
        "",
        f"    .venv/bin/python bench/bench_camera.py --seconds {seconds:g}",
        "",
        "which runs, per video and backbone:",
        "",
        f"    fewlens camera-bench --source clipFPS.avi --support SUPPORT --seconds {seconds:g} --adapt off|on --json",
        "",
        "Rows name their backbone when it is not the default MobileNetV2 (`--backbone ID`).",
        "",
        "| run (UTC) | load avg | source | backbone | frames read | recognized | fps recognized | latency median (ms) "
        "| p95 (ms) | goal: >= 30 fps, median < 60 ms |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        for r in run["rows"]:
            lines.append(f"| {run['date']} | {run['load'][0]:.1f}-{run['load'][1]:.1f} | {r['source_fps']} fps "
                         f"| {r.get('backbone', '') + ' ' if r.get('backbone') else ''}"
                         f"{'adapted' if r['adapted'] else 'frozen'} ({r['engine']}) | {r['frames_read']} "
                         f"| {r['frames_recognized']} | {r['fps']:.1f} | {r['latency_median_ms']:.1f} "
                         f"| {r['latency_p95_ms']:.1f} | {goal(r)} |")
    lines += [
        "",
        "A 30 fps source can give at most 30 recognized frames per second: there the check is that",
        "(almost) every frame is recognized; the 60 fps source shows the loop's headroom. Every row that",
        "misses the goal was measured at a load average of 8 or more (four times the machine's cores); on",
        "a quiet machine (2026-12-04, load 0.6-1.5) every row meets it, the MobileNetV2 ⊕ Lite2 ensemble",
        "too (median 16-21 ms, 2.4-3.4x MobileNetV2's).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "camera.md")
    ap.add_argument("--render-only", action="store_true", help="rewrite the .md from the recorded runs")
    ap.add_argument("--backbone", help="another backbone than the default (its frozen rows only when it cannot adapt)")
    args = ap.parse_args(argv)
    if not args.render_only:
        rows = []
        load = [os.getloadavg()[0]]
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            classes, held = build_support(args.data, tmp / "support")
            for fps in (30, 60):
                video = tmp / f"clip{fps}.avi"
                write_video(video, held, fps, args.seconds + 5)
                for adapt in ("off", "on") if adaptable(args.backbone) else ("off",):
                    doc = run_bench(video, tmp / "support", args.seconds, adapt, args.backbone)
                    load.append(os.getloadavg()[0])
                    doc["source_fps"] = fps
                    rows.append({k: doc[k] for k in ROW_KEYS} | ({"backbone": args.backbone} if args.backbone else {}))
                    print(f"{fps} fps source, adapt {adapt}: {doc['fps']:.1f} fps recognized, latency median "
                          f"{doc['latency_median_ms']:.1f} ms, p95 {doc['latency_p95_ms']:.1f} ms "
                          f"({doc['frames_recognized']}/{doc['frames_read']} frames, {doc['engine']})", flush=True)
        run = {"date": f"{started}-{time.strftime('%H:%M', time.gmtime())}", "load": [min(load), max(load)],
               "seconds": args.seconds, "classes": classes, "rows": rows}
        with RUNS.open("a") as f:
            f.write(json.dumps(run) + "\n")
    runs = [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]
    args.out.write_text(render(runs, args.seconds))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
