"""Exported model: file size, export time, ONNX Runtime ms/image at batch 1 and 32 (CPU).

    python bench/bench_export.py [--data /work/shared/data/clothing17] [--classes 5] [--shots 5] [--adapt off]

Builds a Recognizer on SHOTS images of CLASSES clothing17 classes (the default softkmeans), exports it
(ONNX and TorchScript, timed), then times the exported ONNX file with plain onnxruntime on
uint8 crops (forward only; the crops are made once), median of REPEATS passes.
Writes bench/results/export.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/clothing17"))
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--adapt", default="off", choices=["auto", "on", "off"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "export.md")
    args = ap.parse_args()

    import onnxruntime as ort

    from core.ort import default_threads
    from core.images import find_images, load_image
    from core.preprocess import crop_uint8
    from core.recognizer_build import build_recognizer

    classes = sorted(d for d in args.data.iterdir() if d.is_dir())[: args.classes]
    tmp = Path(tempfile.mkdtemp(prefix="fewlens-bench-export-"))
    try:
        support = tmp / "support"
        queries = []
        for d in classes:
            files = find_images(d)
            (support / d.name).mkdir(parents=True)
            for f in files[: args.shots]:
                os.symlink(f, support / d.name / f.name)
            queries += files[args.shots: args.shots + 8]
        t0 = time.perf_counter()
        rec = build_recognizer(support, adapt=args.adapt)
        build_s = time.perf_counter() - t0
        onnx_res = rec.export(tmp / "model.onnx")
        ts_res = rec.export(tmp / "model.pt", format="torchscript")
        threads = default_threads()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(onnx_res.model), sess_options=opts, providers=["CPUExecutionProvider"])
        crops = np.stack([crop_uint8(load_image(f, min_side=rec.spec.resize_size), rec.spec) for f in queries[:32]])
        while len(crops) < 32:
            crops = np.concatenate([crops, crops])[:32]

        def per_image(batch: int) -> tuple[float, float]:
            """(wall, process CPU) ms/image, medians; CPU time is less hurt by a loaded machine."""
            sess.run(None, {"images": crops[:batch]})  # warm-up
            wall, cpu = [], []
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                for i in range(0, 32, batch):
                    sess.run(None, {"images": crops[i:i + batch]})
                wall.append((time.perf_counter() - t) * 1e3 / 32)
                cpu.append((time.process_time() - c) * 1e3 / 32)
            return statistics.median(wall), statistics.median(cpu)

        (b1, c1), (b32, c32) = per_image(1), per_image(32)
        load = os.getloadavg()[0]
        cmd = (f"python bench/bench_export.py --classes {args.classes} --shots {args.shots} --adapt {args.adapt}")
        text = f"""## Export (issue 11)

`{cmd}` — a Recognizer on {args.shots} labeled images x {args.classes} clothing17 classes
(`{rec.method_name}`, backbone `{rec.spec.id}`, adapted: {rec.provenance['adapted']}), exported, then the
ONNX file run by plain onnxruntime ({threads} threads) on uint8 crops, forward only, median of {args.repeats} passes
over 32 images.

| what | measured |
|---|---|
| ONNX file (backbone + head + metadata, one file) | {onnx_res.size_bytes / 1e6:.1f} MB |
| TorchScript file | {ts_res.size_bytes / 1e6:.1f} MB |
| export time, ONNX (trace + onnx.checker + write) | {onnx_res.seconds:.1f} s |
| export time, TorchScript | {ts_res.seconds:.1f} s |
| build (embed {args.classes * args.shots} support images, fit{', adapt' if rec.provenance['adapted'] else ''}) | {build_s:.1f} s |
| ONNX Runtime, batch 1 | {b1:.2f} ms/image wall ({c1:.2f} CPU ms, all threads) |
| ONNX Runtime, batch 32 | {b32:.2f} ms/image wall ({c32:.2f} CPU ms, all threads) |

1-min load average at the end: {load:.1f} on {os.cpu_count()} CPUs{' (**noisy**: the machine was shared and loaded)' if load > 1.5 else ''}.
"""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
