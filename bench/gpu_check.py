"""One prepared GPU session: CUDA path parity with the CPU engine, and embedding throughput.

1. Parity: every bundled backbone on the repo's test photos, CUDA torch (bf16 autocast,
   channels-last, the app's GPU path) vs ONNX Runtime on the CPU: cosine and top-1 agreement.
2. Throughput of MobileNetV2-224 features at batch 512 (input already on the GPU, like the
   reference figure of 29.7k images/s bf16 eager / 45k with torch.compile on an H200):
   fp32 eager, bf16 channels-last eager, bf16 channels-last torch.compile; plus the app's
   end-to-end Embedder.embed_batch from host memory.

Exits 0 with "no CUDA" on machines without a GPU.  Writes markdown to $OUT/gpu_check.md when $OUT
is set, else bench/results/gpu.md.

    .venv/bin/python bench/gpu_check.py [--backbone mobilenet_v2_imagenet] [--batch 512] [--seconds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="mobilenet_v2_imagenet")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per throughput variant")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    return p.parse_args(argv)


def photos():
    from core.images import find_images, load_image

    return [load_image(p) for p in find_images([ROOT / "tests" / "data" / "coral"])]


def parity(lines: list[str]) -> bool:
    from core.backbones import list_backbones
    from core.embedder import Embedder

    imgs = photos()
    ok = True
    lines += ["### CUDA vs CPU (ONNX Runtime) parity", "", "| backbone | photos | min cosine | max rel. diff | same top-1 |",
              "|---|---|---|---|---|"]
    for spec in list_backbones():
        if spec.weights_file is None or spec.weights_file.suffix != ".tflite":
            continue
        cpu, gpu = Embedder(spec.id, device="cpu"), Embedder(spec.id, device="cuda")
        x = cpu.preprocess(imgs)
        a, b = cpu.embed_batch(x), gpu.embed_batch(x)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
        top = "n/a (no head)"
        if spec.has_head:
            same = (cpu.logits_batch(x).argmax(1) == gpu.logits_batch(x).argmax(1)).sum()
            top = f"{same}/{len(imgs)}"
        ok &= bool(cos.min() >= 0.99)
        lines.append(f"| {spec.id} | {len(imgs)} | {cos.min():.4f} | {rel.max():.2e} | {top} |")
        print(lines[-1], flush=True)
    lines.append("")
    return ok


def throughput(model_fn, x, seconds: float) -> float:
    import torch

    for _ in range(3):  # warm-up (and compilation)
        model_fn(x)
    torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model_fn(x)
        n += len(x)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def speed(args, lines: list[str]) -> None:
    import torch

    from core.backbones import get_backbone
    from core.embedder import Embedder

    spec = get_backbone(args.backbone)
    torch.backends.cudnn.benchmark = True
    x = torch.randn(args.batch, 3, spec.input_size, spec.input_size, device="cuda")
    x_cl = x.contiguous(memory_format=torch.channels_last)
    rows = []

    model = spec.build_torch().eval().cuda()
    with torch.inference_mode():
        rows.append(("fp32 eager, NCHW", throughput(model, x, args.seconds)))
        model_cl = model.to(memory_format=torch.channels_last)

        def bf16(m):
            def run(inp):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return m(inp)

            return run

        rows.append(("bf16 autocast eager, channels-last", throughput(bf16(model_cl), x_cl, args.seconds)))
        print(rows[-1], flush=True)
    if not args.no_compile:
        compiled = torch.compile(model_cl)
        with torch.inference_mode():
            t0 = time.perf_counter()
            rows.append(("bf16 autocast torch.compile, channels-last", throughput(bf16(compiled), x_cl, args.seconds)))
            print(rows[-1], f"(compile + warm-up {time.perf_counter() - t0 - args.seconds:.0f} s)", flush=True)

    emb = Embedder(spec.id, device="cuda")
    host = np.random.default_rng(0).standard_normal((args.batch, 3, spec.input_size, spec.input_size)).astype(np.float32)
    emb.embed_batch(host)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.seconds:
        emb.embed_batch(host)
        n += len(host)
    rows.append(("FewLens Embedder.embed_batch (host numpy in/out, bf16, channels-last)", n / (time.perf_counter() - t0)))

    lines += [f"### Throughput, `{spec.id}`, batch {args.batch}", "", "| variant | images/s |", "|---|---|"]
    lines += [f"| {name} | {ips:,.0f} |" for name, ips in rows]
    lines.append("")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ModuleNotFoundError:
        print("no CUDA: torch is not installed")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA: no GPU visible to torch on this machine; nothing to check")
        return 0
    os.environ.setdefault("FEWLENS_CACHE_DIR", str(ROOT / ".cache" / "fewlens"))
    name = torch.cuda.get_device_name(0)
    lines = [
        "## GPU check",
        "",
        f"- Card: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}",
        f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `.venv/bin/python bench/gpu_check.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
    ]
    ok = parity(lines)
    speed(args, lines)
    text = "\n".join(lines)
    out = Path(os.environ["OUT"]) / "gpu_check.md" if os.environ.get("OUT") else ROOT / "bench" / "results" / "gpu.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"\nwrote {out}\n\n{text}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
