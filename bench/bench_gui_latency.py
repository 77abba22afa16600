"""Label-to-updated-predictions latency of the GUI at 1k, 10k and 100k cached images,
and the memory (RSS) of a 100k-image project open in the window.

    python bench/bench_gui_latency.py [--sizes 1000 10000 100000] [--method protonet] [--repeats 7]
                                      [--import-folder /work/shared/data/clothing17]

For each size it builds a real project file (N image records, fake paths: no
decoding is involved once embeddings are cached), opens it in the real
MainWindow offscreen with an (N, 1280) embedding matrix (MobileNetV2's width,
clustered random vectors, non-negative like pooled ReLU features: speed does not depend on the values), labels 5
images x 5 classes, then times pressing a number key on a selected image:

- ``keypress ms``: time the UI thread spends handling the key (SQLite commit,
  label arrays, refit request) — what a user could feel as a stutter;
- ``refit+predict ms``: the background fit + scoring of every image
  (``core.live_model.fit_predict``), measured in the worker;
- ``label→visible ms``: from the key press until new predictions are in the
  session and the gallery has repainted (for a slow method on >= 500 images:
  the instant ProtoNet preview);
- ``label→final ms``: until the chosen method's own predictions are shown;
- ``refit+predict ms``: of the final result.

Medians over ``--repeats`` label changes.  RSS is read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DIM = 1280
CLASSES = 5
SHOTS = 5


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_embeddings(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (CLASSES, DIM)).astype(np.float32)
    x = np.empty((n, DIM), np.float32)
    for start in range(0, n, 10_000):  # in blocks: no 2x peak from a float64 temporary
        stop = min(n, start + 10_000)
        x[start:stop] = centers[np.arange(start, stop) % CLASSES] + rng.standard_normal((stop - start, DIM),
                                                                                         dtype=np.float32)
    # Backbone embeddings are average-pooled ReLU activations: non-negative (methods may rely on it).
    np.maximum(x, 0, out=x)
    return x


def bench_size(app, n: int, method: str, repeats: int, tmp: Path) -> dict:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.main_window import MainWindow
    from app.session import ProjectSession
    from core.project import Project

    path = tmp / f"bench_{n}.fewlens"
    with Project.create(path, overwrite=True) as p:
        p.add_images([(tmp / "photos" / f"img_{i:06d}.jpg", f"{i:064x}") for i in range(n)])
        for k in range(CLASSES):
            p.add_class(f"Class {k + 1}")
        p.set_setting("method", method)

    rss0 = rss_mb()
    t0 = time.perf_counter()
    session = ProjectSession(Project.open(path))
    open_ms = (time.perf_counter() - t0) * 1e3
    emb = synthetic_embeddings(n)
    session.emb.set_rows(np.arange(n), emb)
    session.missing[:] = False  # fake paths: pretend the files are there (nothing reads them)
    del emb
    window = MainWindow(session)
    window.thumbs.get = lambda image_id, path: None  # no files to decode; tiles paint their placeholder
    window.imports.embed_missing = lambda: None
    window.resize(1360, 860)
    window.show()
    classes = session.classes
    ids = session.ids
    for k, c in enumerate(classes):
        session.set_labels([int(ids[k + CLASSES * j]) for j in range(SHOTS)], c.id)

    def wait_current(timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not session.predictions_current:
            app.processEvents()
            if time.monotonic() > end:
                raise TimeoutError("predictions did not update")
            time.sleep(0.0005)

    wait_current()
    window.gallery.setFocus()
    keypress, visible, final, compute = [], [], [], []
    for r in range(repeats):
        img = int(ids[CLASSES * SHOTS + r])
        window.gallery.select_ids([img], current=img)
        app.processEvents()
        start = time.perf_counter()
        QTest.keyClick(window.gallery, Qt.Key.Key_1 + (r % CLASSES))
        keypress.append((time.perf_counter() - start) * 1e3)
        target = session.generation
        end = time.monotonic() + 60
        while session.pred.generation < target:  # first update: the preview, or the final result
            app.processEvents()
            if time.monotonic() > end:
                raise TimeoutError("predictions did not update")
            time.sleep(0.0005)
        window.gallery.viewport().repaint()
        visible.append((time.perf_counter() - start) * 1e3)
        wait_current()
        window.gallery.viewport().repaint()
        final.append((time.perf_counter() - start) * 1e3)
        compute.append(session.pred.fit_ms + session.pred.predict_ms)
    rss1 = rss_mb()
    window.close()
    app.processEvents()
    return {
        "n": n,
        "open_ms": open_ms,
        "keypress_ms": statistics.median(keypress),
        "compute_ms": statistics.median(compute),
        "visible_ms": statistics.median(visible),
        "final_ms": statistics.median(final),
        "rss_mb": rss1,
        "rss_delta_mb": rss1 - rss0,
    }


def bench_import(app, folder: Path, tmp: Path) -> dict:
    """Drop-a-folder import through the real window: images/s, and how long the UI event loop
    was ever kept waiting (a 5 ms timer's largest gap) while it ran."""
    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QTimer

    from app.main_window import MainWindow
    from app.session import ProjectSession
    from core.project import Project

    path = tmp / "import.fewlens"
    Project.create(path, overwrite=True).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    window.resize(1360, 860)
    window.show()
    window.imports.ask_use_subfolders = lambda names: False
    clock = QElapsedTimer()
    clock.start()
    gaps, last = [], [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    start = time.perf_counter()
    window.imports.import_paths([folder])
    s = window.session
    while window.jobs or s.pending_embeddings or not s.predictions_current:
        app.processEvents()
        time.sleep(0.002)
    seconds = time.perf_counter() - start
    timer.stop()
    g = np.array(gaps[2:] or [0])
    n = len(s)
    window.close()
    app.processEvents()
    return {"n": n, "seconds": seconds, "per_s": n / seconds, "gap_p99": float(np.percentile(g, 99)),
            "gap_max": float(g.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--method", default=None, help="few-shot method (default: the app default)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--import-folder", type=Path, default=None,
                    help="also time importing this folder through the window (e.g. /work/shared/data/clothing17); "
                         "needs the backbone's ONNX export in the cache for a fair number")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from core.methods import DEFAULT_METHOD

    method = args.method or DEFAULT_METHOD
    sys.setswitchinterval(0.001)  # as app.main.run does
    app = QApplication.instance() or QApplication(["bench"])
    tmp = Path(tempfile.mkdtemp(prefix="fewlens-guibench-"))
    os.environ.setdefault("FEWLENS_CONFIG_DIR", str(tmp / "config"))
    print(f"method={method}  dim={DIM}  {CLASSES} classes x {SHOTS} labeled  load: {os.getloadavg()[0]:.2f}")
    print("| cached images | open project (ms) | keypress on UI thread (ms) | refit + predict (ms) "
          "| label → visible (ms) | label → final (ms) | RSS (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = bench_size(app, n, method, args.repeats, tmp)
        print(f"| {n:,} | {r['open_ms']:.0f} | {r['keypress_ms']:.1f} | {r['compute_ms']:.1f} | "
              f"{r['visible_ms']:.1f} | {r['final_ms']:.1f} | {r['rss_mb']:.0f} (+{r['rss_delta_mb']:.0f}) |",
              flush=True)
    if args.import_folder is not None:
        r = bench_import(app, args.import_folder, tmp)
        print(f"\nimport {args.import_folder}: {r['n']:,} images in {r['seconds']:.1f} s = {r['per_s']:.0f} images/s "
              f"(decode + embed + project writes); UI event-loop gap p99 {r['gap_p99']:.0f} ms, "
              f"max {r['gap_max']:.0f} ms", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
