"""A/B of ``fewlens predict -o OUT.csv`` between two checkouts, runs interleaved (issue 16).

    python bench/ab_batch_cli.py --a /work/main --b . [--count 600] [--rounds 2]

Same COUNT cold files (bench_batch.py's mix: clothing17, pbc_blood_cells, Omniglot, each copy
with a unique trailer) for both; each run gets a fresh embedding cache holding only the ONNX
export and the support set's vectors, so it embeds every file.  Runs alternate A, B, A, B... so
a change in the machine's load hits both sides alike.  Prints wall and CPU seconds per run and the
load average; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_batch import gather_sources, make_files, make_support  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="checkout A (e.g. main)")
    ap.add_argument("--b", type=Path, required=True, help="checkout B (this branch)")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fewlens-ab-"))
    onnx = Path(os.environ.get("FEWLENS_CACHE_DIR", ROOT / ".cache" / "fewlens")) / "onnx"
    try:
        files = make_files(gather_sources(a.data, tmp), a.count, tmp / "imgs")
        sup = make_support(a.data / "clothing17", tmp / "support")
        base = ["predict", "--support", str(sup), "--method", "protonet", "--adapt", "off", "--format", "csv"]
        results: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
        for r in range(a.rounds):
            for side, root in (("A", a.a), ("B", a.b)):
                cache = tmp / f"cache-{side}-{r}"
                shutil.copytree(onnx, cache / "onnx")
                env = dict(os.environ, PYTHONPATH=str(root.resolve()), FEWLENS_CACHE_DIR=str(cache))
                cmd = [sys.executable, "-m", "core.cli", *base]
                subprocess.run(cmd + ["--images", str(files[0]), "-o", str(tmp / "warm.csv")], env=env,
                               capture_output=True, check=True, cwd=root)  # support vectors cached
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                p = subprocess.run(cmd + ["--images", str(tmp / "imgs"), "-o", str(tmp / f"{side}{r}.csv")], env=env,
                                   capture_output=True, text=True, cwd=root)
                wall = time.perf_counter() - t
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if p.returncode not in (0, 1):
                    raise SystemExit(f"{side} failed: {p.stderr[-1500:]}")
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                load = os.getloadavg()[0]
                results[side].append((wall, cpu, load))
                print(f"round {r} {side} ({root}): {wall:6.1f} s wall, {a.count / wall:5.1f} img/s, "
                      f"{cpu:6.1f} s CPU, load {load:.1f}",
                      flush=True)
        for side in "AB":
            w = [x[0] for x in results[side]]
            c = [x[1] for x in results[side]]
            print(f"{side}: mean {a.count * len(w) / sum(w):.1f} img/s wall, {1000 * sum(c) / (a.count * len(c)):.1f} "
                  f"ms CPU per image over {len(w)} runs")
        same = all((tmp / f"A{r}.csv").read_bytes() == (tmp / f"B{r}.csv").read_bytes() for r in range(a.rounds))
        print(f"A and B wrote the same CSV: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
