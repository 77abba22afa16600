"""Embedding speed on this CPU: ONNX Runtime (FewLens' CPU engine) vs torch eager vs LiteRT.

All three run the same backbone on the same preprocessed photos, at batch 1 and batch 32, with the
same thread count.  LiteRT runs the original quantized uint8 file (the reference the port was made
from); ORT and torch run the float port.  Preprocessing (decode excluded: resize, crop, normalize)
is timed separately.  Writes a markdown section to bench/results/embedding.md.

    .venv/bin/python bench/bench_embed.py            # defaults: clothing17 photos, 2 threads
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = Path("/work/shared/data/clothing17")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of photos (searched recursively)")
    p.add_argument("--backbone", default="mobilenet_v2_imagenet")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--images", type=int, default=64, help="photos per timed pass")
    p.add_argument("--repeats", type=int, default=5, help="timed passes; the median is reported")
    p.add_argument("--engines", nargs="+", default=["ort", "torch", "litert"], choices=["ort", "torch", "litert"])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embedding.md")
    p.add_argument("--no-fidelity", action="store_true", help="skip the port-vs-LiteRT fidelity table")
    return p.parse_args(argv)


def fidelity_rows() -> list[str]:
    """Port vs LiteRT and ONNX Runtime vs torch, per bundled backbone, on the repo's test photos."""
    from ai_edge_litert.interpreter import Interpreter

    from core.backbones import list_backbones
    from core.backbones.tflite_reader import read_tflite
    from core.embedder import Embedder
    from core.images import find_images, load_image
    from core.preprocess import crop_uint8, normalize

    paths = find_images([ROOT / "tests" / "data" / "coral"])
    rows = [
        "",
        f"### Fidelity of the float port ({len(paths)} photos in tests/data/coral)",
        "",
        "Same uint8 224x224 crop into LiteRT (the original quantized file) and into FewLens (ONNX Runtime). "
        "Cosine of the global-average-pooled features; top-1 of the classifier head (a class tied at the top of "
        "LiteRT's quantized logits counts as its top-1).  'full decode': full-resolution decode then resize; "
        "'app decode': the app's reduced-scale decode (DCT scaling / box reduce) then resize.",
        "",
        "| backbone | cosine min / mean (full decode) | cosine min / mean (app decode) | same top-1 | ORT vs torch max rel. diff |",
        "|---|---|---|---|---|",
    ]
    ablations = []
    for spec in list_backbones():
        if spec.weights_file is None or spec.weights_file.suffix != ".tflite":
            continue
        net = read_tflite(spec.weights_file)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = Interpreter(model_path=str(spec.weights_file), experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
        det = {d["index"]: d for d in interp.get_tensor_details()}
        inp = interp.get_input_details()[0]["index"]

        def reference(px):
            interp.set_tensor(inp, px[None])
            interp.invoke()
            out = []
            for idx in (net.pool_output, net.logits_output):
                if idx < 0:
                    out.append(None)
                    continue
                scale, zero = det[idx]["quantization"]
                out.append((interp.get_tensor(idx).reshape(-1).astype(np.float64) - zero) * scale)
            return out

        ort_emb = Embedder(spec.id, device="cpu")
        torch_emb = Embedder(spec.id, device="cpu", engine="torch")
        cells, top_ok, rel = [], 0, 0.0
        px_full = feats_full = None
        for min_side in (None, spec.resize_size):
            px = np.stack([crop_uint8(load_image(p, min_side=min_side), spec) for p in paths])
            x = np.stack([normalize(c, spec) for c in px])
            ours = ort_emb.embed_batch(x)
            refs = [reference(c) for c in px]
            feats = np.stack([r[0] for r in refs])
            cos = (ours * feats).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(feats, axis=1))
            cells.append(f"{cos.min():.4f} / {cos.mean():.4f}")
            if min_side is None:
                px_full, feats_full = px, feats
                t = torch_emb.embed_batch(x)
                rel = float((np.linalg.norm(ours - t, axis=1) / np.linalg.norm(t, axis=1)).max())
                if spec.has_head:
                    top = ort_emb.logits_batch(x).argmax(1)
                    top_ok = sum(int(top[i]) in set(np.flatnonzero(r[1] >= r[1].max() - 1e-9)) for i, r in enumerate(refs))
        top_cell = f"{top_ok}/{len(paths)}" if spec.has_head else "no head"
        rows.append(f"| {spec.id} | {cells[0]} | {cells[1]} | {top_cell} | {rel:.1e} |")
        print(rows[-1], flush=True)
        ablations.append((spec, net, px_full, feats_full))
    rows += ablation_rows(ablations)
    return rows


def ablation_rows(cases) -> list[str]:
    """What the two port details buy: the integer-exact stem, and TF-SAME (0,1) padding."""
    import torch

    from core.backbones.mobilenet import TFSamePad2d, mobilenet_from_tflite
    from core.preprocess import normalize

    def symmetric(self, t):  # PyTorch's padding=1 on every 3x3 conv
        return torch.nn.functional.pad(t, (1, 1, 1, 1))[..., : None if self.stride == 1 else -1, : None if self.stride == 1 else -1]

    rows = ["", "Ablation (torch, full decode, cosine min / mean vs LiteRT):", "",
            "| backbone | this port (integer-exact stem on iNat) | float stem | float stem + PyTorch padding=1 |", "|---|---|---|---|"]
    for spec, net, px, feats in cases:
        arch = "mobilenet_v1" if spec.embed_dim == 1024 else "mobilenet_v2"
        x = torch.from_numpy(np.stack([normalize(c, spec) for c in px]))
        cells = []
        from core.backbones.coral import QUANTIZED_STEM

        for qstem, pad in ((spec.id in QUANTIZED_STEM, None), (False, None), (False, symmetric)):
            model = mobilenet_from_tflite(net, arch, quantized_stem=qstem)
            orig = TFSamePad2d.forward
            if pad is not None:
                TFSamePad2d.forward = pad
            try:
                with torch.inference_mode():
                    e = model(x).numpy()
            finally:
                TFSamePad2d.forward = orig
            cos = (e * feats).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(feats, axis=1))
            cells.append(f"{cos.min():.4f} / {cos.mean():.4f}")
        rows.append(f"| {spec.id} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def load_photos(data: Path, n: int):
    from core.images import find_images, load_image

    paths = find_images([data])[:n] if data.exists() else []
    if not paths:  # no dataset here: fall back to the repo's bundled photos
        paths = find_images([ROOT / "assets" / "sample" / "images"])[:n]
    imgs = [load_image(p) for p in paths]
    while len(imgs) < n:
        imgs += imgs[: n - len(imgs)]
    return imgs, len(paths)


def one_pass(fn, batches) -> tuple[float, float]:
    """(wall ms/image, process CPU ms/image) for fn applied to every batch once.

    CPU time (all threads of this process) is the less load-sensitive figure when other processes
    share the machine; wall time is what a user waits.
    """
    n = sum(len(b) for b in batches)
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        fn(b)
    return (time.perf_counter() - t0) * 1000 / n, (time.process_time() - c0) * 1000 / n


def make_ort(spec, threads):
    from core.embedder import Embedder

    return Embedder(spec.id, device="cpu", threads=threads).embed_batch, ""


def make_torch(spec, threads):
    import torch

    torch.set_num_threads(threads)
    model = spec.build_torch().eval()

    def run(b):
        with torch.inference_mode():
            return model(torch.from_numpy(b))

    return run, ""


def make_litert(spec, threads, batch: int):
    from ai_edge_litert.interpreter import Interpreter

    def interpreter():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Interpreter(model_path=str(spec.weights_file), num_threads=threads)

    interp, batched, note = interpreter(), False, ""
    inp = interp.get_input_details()[0]["index"]
    if batch > 1:
        try:
            interp.resize_tensor_input(inp, [batch, spec.input_size, spec.input_size, 3], strict=False)
            interp.allocate_tensors()
            batched = True
        except Exception:  # fixed-shape graph (a Reshape to [1, classes]): invoke per image
            interp = interpreter()
            note = "one image per invoke at batch > 1 (the graph has a fixed batch of 1)"
    if not batched:
        interp.allocate_tensors()

    def run(b):
        if batched:
            interp.set_tensor(inp, b)
            interp.invoke()
        else:
            for img in b:
                interp.set_tensor(inp, img[None])
                interp.invoke()

    return run, note


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("FEWLENS_CACHE_DIR", str(ROOT / ".cache" / "fewlens"))
    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for
    from core.preprocess import crop_uint8, normalize

    spec = get_backbone(args.backbone)
    onnx_path_for(spec)  # export outside the timed region
    args.load_start = _load()
    imgs, n_files = load_photos(args.data, args.images)

    t0 = time.perf_counter()
    crops = [crop_uint8(im, spec) for im in imgs]
    x = np.stack([normalize(c, spec) for c in crops])
    prep_ms = (time.perf_counter() - t0) * 1000 / len(imgs)
    u8 = np.stack(crops)

    results: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    notes: list[str] = []
    for bs in args.batches:
        xb = [x[i : i + bs] for i in range(0, len(x) - bs + 1, bs)]
        ub = [u8[i : i + bs] for i in range(0, len(u8) - bs + 1, bs)]
        runners = {}
        for engine in args.engines:
            try:
                if engine == "ort":
                    runners[engine] = (*make_ort(spec, args.threads), xb)
                elif engine == "torch":
                    runners[engine] = (*make_torch(spec, args.threads), xb)
                else:
                    runners[engine] = (*make_litert(spec, args.threads, bs), ub)
            except ModuleNotFoundError as e:
                print(f"{engine}: {e}; skipped", file=sys.stderr)
        for fn, note, batches in runners.values():
            fn(batches[0])  # warm-up: allocations, kernel selection
            if note and f"LiteRT: {note}" not in notes:
                notes.append(f"LiteRT: {note}")
        # engines interleaved pass by pass, so a load spike from other processes hits all of them
        times: dict[str, list[tuple[float, float]]] = {e: [] for e in runners}
        for _ in range(args.repeats):
            for engine, (fn, _, batches) in runners.items():
                times[engine].append(one_pass(fn, batches))
        for engine, ts in times.items():
            results[(engine, bs)] = statistics.median(t[0] for t in ts)
            cpu[(engine, bs)] = statistics.median(t[1] for t in ts)
            print(f"{engine:6s} batch {bs:3d}: {results[(engine, bs)]:7.2f} ms/image "
                  f"(CPU {cpu[(engine, bs)]:.2f} ms/image)", flush=True)

    extra = []
    if not args.no_fidelity:
        try:
            extra = fidelity_rows()
        except ModuleNotFoundError as e:
            print(f"fidelity table skipped: {e}", file=sys.stderr)
    write_report(args, spec, results, cpu, prep_ms, n_files, notes, argv, extra)
    return 0


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_report(args, spec, results, cpu, prep_ms, n_files, notes, argv, extra=()) -> None:
    import onnxruntime

    try:
        import torch

        torch_v = torch.__version__
    except ModuleNotFoundError:
        torch_v = "n/a"
    engines = {"ort": "ONNX Runtime (float port, FewLens CPU engine)", "torch": "torch eager (float port)",
               "litert": "LiteRT (original uint8 file, reference)"}
    lines = [
        "## Embedding speed (CPU)",
        "",
        f"Backbone `{spec.id}` ({spec.input_size}x{spec.input_size}), {args.threads} threads, {args.images} "
        f"photos per pass ({n_files} distinct files from `{args.data}`), median of {args.repeats} passes, "
        "model forward only (preprocessing timed separately).",
        "",
        "Cells: wall-clock ms/image (process CPU ms/image, all threads, in parentheses).",
        "",
        "| engine | " + " | ".join(f"batch {b} ms/image" for b in args.batches) + " |",
        "|---|" + "---|" * len(args.batches),
    ]
    for e in args.engines:
        if any((e, b) in results for b in args.batches):
            cells = [f"{results[(e, b)]:.2f} ({cpu[(e, b)]:.2f})" if (e, b) in results else "n/a" for b in args.batches]
            lines.append(f"| {engines[e]} | " + " | ".join(cells) + " |")
    for b in args.batches:
        if ("ort", b) in results and ("torch", b) in results:
            lines.append("")
            lines.append(f"ONNX Runtime vs torch eager at batch {b}: **{results[('torch', b)] / results[('ort', b)]:.2f}x** "
                         f"faster in wall time, {cpu[('torch', b)] / cpu[('ort', b)]:.2f}x in CPU time (target >= 2.5x).")
    lines += [
        "",
        f"Preprocessing (resize shorter side to {spec.resize_size}, center crop, normalize; decode excluded): "
        f"{prep_ms:.2f} ms/image, single thread.",
    ]
    lines += [f"{n}." for n in notes]
    try:
        busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:
        busy = False
    if busy:
        lines += ["", f"**Noisy:** other processes kept the machine loaded (1-min load above its {os.cpu_count()} CPUs); "
                  "multi-threaded wall times (torch's OpenMP spin-waits most of all) are inflated.  "
                  "Re-run the command on a quiet machine for reference numbers."]
    cmd = " ".join(["bench/bench_embed.py"] + (argv if argv is not None else sys.argv[1:]))
    lines += [
        "",
        f"- Command: `FEWLENS_CACHE_DIR=.cache/fewlens .venv/bin/python {cmd}`",
        f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; machine: {_cpu_name()}, "
        f"{os.cpu_count()} logical CPUs; load average (1/5/15 min) at start {args.load_start}, at end {_load()}",
        f"- Versions: onnxruntime {onnxruntime.__version__}, torch {torch_v}, Python {platform.python_version()}",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines + list(extra) + [""])
    args.out.write_text(text)
    print(f"\nwrote {args.out}\n\n{text}")


if __name__ == "__main__":
    sys.exit(main())
