"""5-way 1-shot and 5-shot accuracy of every bundled backbone with the default method (and ProtoNet), via `fewlens eval`.

    .venv/bin/python bench/eval_clothing.py [--dataset /work/shared/data/clothing17] [--episodes 600] [--seed 0]
                                            [--out bench/results/core_eval.md]

Runs the real CLI once per (backbone, shots) with ``--json`` and writes a markdown table with
the exact command of every row.  Embeddings go to the user cache, so only the first run of a
backbone pays for embedding the dataset.  Accuracy does not depend on thread count, so ONNX
Runtime is held to one thread (FEWLENS_THREADS=1) to share the machine politely.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEWLENS = [str(ROOT / ".venv" / "bin" / "fewlens")]


def reference_check(dataset: str, backbones: list[str], per_class: int = 25, classes: int = 8,
                    episodes: int = 200) -> list[str]:
    """Is a low score the model or the port?  Same episodes on the port's features and on the
    reference runtime's (LiteRT on the quantized Coral file, pooled penultimate tensor)."""
    import warnings

    import numpy as np

    from core.backbones import get_backbone
    from core.backbones.tflite_reader import read_tflite
    from core.embedder import Embedder
    from core.episodes import FolderDataset, evaluate, sample_episodes
    from core.images import load_image
    from core.preprocess import crop_uint8, normalize

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        return [f"(reference check skipped: {e})"]
    ds = FolderDataset.from_folder(dataset)
    big = [c for c, n in ds.class_counts().items() if n >= per_class][:classes]
    ds = ds.subset(big)
    keep = np.concatenate([np.flatnonzero(ds.labels == c)[:per_class] for c in range(len(big))])
    paths, y = [ds.paths[i] for i in keep], ds.labels[keep]
    eps = sample_episodes(y, 5, 5, 15, episodes, seed=0)
    out = [f"| backbone | port features | LiteRT reference features | feature cosine min / mean |", "|---|---:|---:|---:|"]
    for bb in backbones:
        spec = get_backbone(bb)
        if spec.weights_file is None or spec.weights_file.suffix != ".tflite":
            continue
        px = np.stack([crop_uint8(load_image(p), spec) for p in paths])
        emb = Embedder(bb, device="cpu")
        ours = emb.embed_batch(np.stack([normalize(p, spec) for p in px]))
        net = read_tflite(spec.weights_file)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = Interpreter(model_path=str(spec.weights_file), experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]["index"]
        scale, zero = next(d for d in interp.get_tensor_details() if d["index"] == net.pool_output)["quantization"]
        ref = []
        for x in px:
            interp.set_tensor(inp, x[None])
            interp.invoke()
            ref.append((interp.get_tensor(net.pool_output).astype(np.float64).reshape(-1) - zero) * scale)
        ref = np.stack(ref).astype(np.float32)
        cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
        out.append(f"| {bb} | {evaluate(ours, eps).accuracy:.1f} | {evaluate(ref, eps).accuracy:.1f} | "
                   f"{cos.min():.3f} / {cos.mean():.3f} |")
    head = (f"Port vs reference runtime, 5-way 5-shot ProtoNet, {episodes} episodes on {len(big)} classes x "
            f"{per_class} photos ({', '.join(big)}): a low score with matching columns is the model, not the port.")
    return [head, "", *out]


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from core.backbones import list_backbones
    from core.methods import DEFAULT_METHOD

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="/work/shared/data/clothing17")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--queries", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--backbones", nargs="+", default=None, help="default: every bundled photo backbone (the Coral TFLite ports)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "core_eval.md")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="methods to run (default: the default method, plus protonet for reference)")
    ap.add_argument("--unlabeled-pool", type=int, default=0, metavar="M", help="passed to fewlens eval")
    ap.add_argument("--no-reference-check", action="store_true", help="skip the port-vs-LiteRT accuracy check")
    args = ap.parse_args(argv)
    # default: the bundled photo backbones, i.e. the ports of Coral's TFLite files (the registry
    # also holds Omniglot Conv-4 nets, which are not meant for photos)
    backbones = args.backbones or [b.id for b in list_backbones()
                                   if b.weights_file is not None and b.weights_file.suffix == ".tflite"]

    env = {**os.environ, "FEWLENS_THREADS": os.environ.get("FEWLENS_THREADS", "1")}
    rows = []
    methods = args.methods or list(dict.fromkeys([DEFAULT_METHOD, "protonet"]))
    pool = ["--unlabeled-pool", str(args.unlabeled_pool)] if args.unlabeled_pool else []
    for bb in backbones:
        for m in methods:
            for k in args.shots:
                cmd = ["fewlens", "eval", "--dataset", args.dataset, "--ways", "5", "--shots", str(k),
                       "--queries", str(args.queries), "--episodes", str(args.episodes), "--seed", str(args.seed),
                       "--backbone", bb, "--method", m, *pool, "--json"]
                print("$", shlex.join(cmd), file=sys.stderr, flush=True)
                proc = subprocess.run(FEWLENS + cmd[1:], env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    raise SystemExit(f"failed: {shlex.join(cmd)}")
                doc = json.loads(proc.stdout)
                print(f"  {doc['accuracy_pct']:.2f} ± {doc['ci95_pct']:.2f}", file=sys.stderr, flush=True)
                rows.append((bb, m, k, doc, shlex.join(cmd)))

    by = {(bb, m, k): d for bb, m, k, d, _ in rows}
    first = rows[0][3]
    pool_text = (f", unlabeled pool {args.unlabeled_pool} per class + distractors" if args.unlabeled_pool
                 else ", no unlabeled pool (transductive methods see only the episode's queries)")
    lines = [
        f"## `fewlens eval` on clothing17: bundled backbones, default method `{DEFAULT_METHOD}`"
        + (" (and `protonet` for reference)" if "protonet" in methods and DEFAULT_METHOD != "protonet" else ""),
        "",
        f"5-way, {args.queries} queries per class, {args.episodes} episodes, seed {args.seed} (identical episodes in "
        f"every row){pool_text}; accuracy % ± 95% CI; ECE = expected calibration error of the top-class confidence, %.",
        "",
        "| backbone | method | " + " | ".join(f"5-way {k}-shot | ECE {k}-shot" for k in args.shots) + " |",
        "|---|---|" + "---:|---:|" * len(args.shots),
    ]
    for bb in backbones:
        for m in methods:
            cells = []
            for k in args.shots:
                d = by[(bb, m, k)]
                cells += [f"{d['accuracy_pct']:.2f} ± {d['ci95_pct']:.2f}", f"{d['ece_pct']:.1f}"]
            name = f"**{m}** (default)" if m == DEFAULT_METHOD else m
            lines.append(f"| {bb} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Commands (each prints the JSON the row comes from):", "", "```"]
    lines += [c for *_, c in rows]
    regen = (f".venv/bin/python bench/eval_clothing.py --dataset {args.dataset} --episodes {args.episodes} "
             f"--seed {args.seed}" + (f" --unlabeled-pool {args.unlabeled_pool}" if args.unlabeled_pool else ""))
    lines += ["```", "",
              f"- all rows regenerated by: `{regen}`",
              f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; device: {first['device']}; "
              f"dataset: {first['classes']} classes, {first['images']} images",
              ""]
    if not args.no_reference_check:
        print("reference check (port vs LiteRT) ...", file=sys.stderr, flush=True)
        lines += reference_check(args.dataset, backbones) + [""]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
