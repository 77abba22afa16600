"""Where the memory of ``fewlens predict -o OUT.csv`` goes, phase by phase (issue 16).

    python bench/profile_batch_memory.py --images DIR --support DIR [--arena on|off]
        [--mem-pattern on|off] [--tracemalloc] [--cli-args ...]

Runs the CLI in this process with RSS sampled every 0.05 s and marks the phases (imports, the
counting walk, the support fit, the streaming run) so each one's share shows; ``--tracemalloc``
adds the Python allocations that grew between the first and last quarter of the run (what a
leak per row would look like).  ``--arena`` / ``--mem-pattern`` override the ONNX Runtime
session options for an experiment (the default is what core.embedder builds).
Prints one report; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True, nargs="+")
    ap.add_argument("--support", required=True)
    ap.add_argument("--method", default="protonet")
    ap.add_argument("--arena", choices=["on", "off", "default"], default="default")
    ap.add_argument("--mem-pattern", choices=["on", "off", "default"], default="default")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("-o", "--output", default="/tmp/fewlens-profile.csv")
    a = ap.parse_args()

    marks: list[tuple[str, float, float]] = []
    t0 = time.perf_counter()

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter() - t0, rss_mb()))

    mark("python + bench imports")
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    run_window: list[float] = []

    def sampler() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - t0, rss_mb()))
            time.sleep(0.05)

    threading.Thread(target=sampler, daemon=True).start()

    import core.batch as batch
    import core.embedder as embedder
    from core.cli import main as cli_main

    mark("core.cli imported")
    if a.arena != "default" or a.mem_pattern != "default":
        orig_new = embedder.new_ort_session

        def new_session(model, threads=None):
            import onnxruntime as ort

            real = ort.SessionOptions

            def opts_factory():
                o = real()
                if a.arena != "default":
                    o.enable_cpu_mem_arena = a.arena == "on"
                if a.mem_pattern != "default":
                    o.enable_mem_pattern = a.mem_pattern == "on"
                return o

            ort.SessionOptions = opts_factory
            try:
                return orig_new(model, threads)
            finally:
                ort.SessionOptions = real

        embedder.new_ort_session = new_session

    orig_count, orig_predict = batch.count_image_files, batch.predict_to_csv
    snaps = {}

    def count(*args, **kw):
        mark("counting walk: start")
        n = orig_count(*args, **kw)
        mark(f"counting walk: done ({n:,} files)")
        return n

    def predict(*args, **kw):
        mark("support fitted, model loaded (streaming run starts)")
        total = kw.get("total") or 0
        user_progress = kw.get("progress")

        def progress(done, tot):
            if a.tracemalloc and total:
                import tracemalloc

                for q in (0.25, 0.95):
                    if q not in snaps and done >= q * total:
                        snaps[q] = tracemalloc.take_snapshot()
            if user_progress is not None:
                user_progress(done, tot)

        kw["progress"] = progress
        run_window.append(time.perf_counter() - t0)
        s = orig_predict(*args, **kw)
        run_window.append(time.perf_counter() - t0)
        mark(f"streaming run done ({s.written:,} rows, {s.cached:,} cached)")
        return s

    batch.count_image_files, batch.predict_to_csv = count, predict
    if a.tracemalloc:
        import tracemalloc

        tracemalloc.start(8)
    rc = cli_main(["predict", "--support", a.support, "--method", a.method, "--adapt", "off", "--format", "csv",
                   "--images", *a.images, "-o", a.output])
    stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rc {rc}; torch imported: {'torch' in sys.modules}; onnx imported: {'onnx' in sys.modules}; "
          f"arena={a.arena} mem_pattern={a.mem_pattern}")
    for name, t, r in marks:
        print(f"  {t:7.1f} s  {r:6.0f} MB  {name}")
    if len(run_window) == 2:
        inside = [r for t, r in samples if run_window[0] <= t <= run_window[1]]
        if inside:
            n = len(inside)
            qs = [inside[min(n - 1, int(n * f))] for f in (0.0, 0.1, 0.25, 0.5, 0.75, 0.99)]
            print("  RSS during the run at 0/10/25/50/75/99 %: " + " / ".join(f"{v:.0f}" for v in qs)
                  + f" MB; highest sample {max(inside):.0f} MB at {max(samples, key=lambda s: s[1])[0]:.1f} s")
        print(f"  run: {run_window[1] - run_window[0]:.1f} s")
    print(f"  peak RSS {peak:.0f} MB; load average {os.getloadavg()[0]:.1f}")
    if len(snaps) == 2:
        diff = snaps[0.95].compare_to(snaps[0.25], "traceback")
        print("  Python allocations grown between 25 % and 95 % of the run (top 8):")
        for st in diff[:8]:
            print(f"    {st.size_diff / 2**20:+7.2f} MB  {st.count_diff:+8d} blocks  "
                  f"{st.traceback.format()[-2].strip() if len(st.traceback) > 1 else st.traceback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
