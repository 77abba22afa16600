"""Project store at scale: create a project with N images (default 100,000) spread over
folders, label a share of them, then time what the GUI does on open.

    .venv/bin/python bench/project_store.py [--images 100000] [--out DIR]

The images are real (tiny) files on disk so the missing-file scan does its real work.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.project import Project  # noqa: E402


def timed(label: str, fn, results: list):
    """Wall time, and this process's CPU time (close to the wall time a quiet machine gives)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    results.append((label, dt, dc))
    print(f"{label:<48} {dt * 1000:9.1f} ms wall {dc * 1000:9.1f} ms CPU", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--per-folder", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temp dir, removed after)")
    args = ap.parse_args()

    root = Path(args.out or tempfile.mkdtemp(prefix="fewlens-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, float]] = []
    try:
        files = []
        for i in range(args.images):
            d = root / "photos" / f"f{i // args.per_folder:03d}"
            if i % args.per_folder == 0:
                d.mkdir(parents=True, exist_ok=True)
            f = d / f"img{i:06d}.jpg"
            f.touch()
            files.append((f, f"{i:064x}"))
        path = root / "big.fewlens"
        if path.exists():
            path.unlink()
        with Project.create(path) as p:
            ids = timed(f"add_images({args.images:,}) in one transaction", lambda: p.add_images(files), results)
            cls = [p.add_class(f"class {k}") for k in range(10)]
            timed("set_labels(5% of images, 10 classes)", lambda: [p.set_labels(ids[k::200], c) for k, c in enumerate(cls)], results)
        # What the GUI does when it opens a project:
        p = timed("Project.open", lambda: Project.open(path), results)
        recs = timed(f"images() with missing-file scan ({args.images:,})", p.images, results)
        timed("images(check_missing=False)", lambda: p.images(check_missing=False), results)
        timed("classes() with counts", p.classes, results)
        timed("labels()", p.labels, results)
        timed("set_labels(1 image) (one user action)", lambda: p.set_labels([ids[1]], cls[0]), results)
        timed("set_labels(1,000 images)", lambda: p.set_labels(ids[:1000], cls[1]), results)
        # One user action = one committed transaction: median/p90 latency for both sync modes.
        for mode in ("NORMAL", "FULL"):
            p._conn().execute(f"PRAGMA synchronous={mode}")
            ts = []
            for k in range(60):
                t0 = time.perf_counter()
                p.set_labels([ids[k]], cls[k % 10] if k % 2 else None)
                ts.append(time.perf_counter() - t0)
            ts.sort()
            print(f"{'one label action, synchronous=' + mode:<48} median {ts[30] * 1000:.2f} ms, p90 {ts[54] * 1000:.2f} ms")
        p.close()
        steps = [r for r in results if r[0].startswith(("Project.open", "images() with", "classes()", "labels()"))]
        wall, cpu = sum(r[1] for r in steps), sum(r[2] for r in steps)
        print(f"{'open + list images + classes + labels':<48} {wall * 1000:9.1f} ms wall {cpu * 1000:9.1f} ms CPU")
        print(f"images listed: {len(recs):,}; missing: {sum(r.missing for r in recs)}")
        print(f"file size: {path.stat().st_size / 1e6:.1f} MB; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print(f"load: {os.getloadavg()}")
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
