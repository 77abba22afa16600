"""``fewlens predict``: label a few examples per class (one folder each), predict the rest.

    fewlens predict --support examples/ --images photos/ new.jpg [--format table|csv|json]
    fewlens predict --project my.fewlens --images photos/
    fewlens predict --model model.onnx --images photos/

``examples/`` holds one subfolder per class.  Embeddings go through the user
embedding cache, so predicting again (or with another method) is instant.  All three build or
load a :class:`core.recognizer.Recognizer` (core.recognizer_build) and predict with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import FewLensError, ImageError
from ..images import find_images
from .shared import add_adapt_argument, add_model_arguments, cli_progress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict classes for images from a few labeled examples",
        description="Fit a few-shot method on labeled examples (SUPPORT/<class>/<images>, or a project's "
        "labels), or load a model exported by `fewlens export`, and predict the class of every image in "
        "PATH... (files or folders).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--support", type=Path, metavar="DIR", help="folder with one subfolder per class")
    src.add_argument("--project", type=Path, metavar="P", help="a .fewlens project: its classes, labels and settings")
    src.add_argument("--model", type=Path, metavar="M", help="a model exported by `fewlens export` (.onnx)")
    p.add_argument("--images", required=True, nargs="+", type=Path, metavar="PATH", help="images or folders to predict")
    add_model_arguments(p)
    add_adapt_argument(p)
    # None: the project's / model's own (backbone, method, adapt, threshold) for --project / --model
    p.set_defaults(backbone=None, method=None, adapt=None)
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="mark predictions with confidence below T (0-1) as unknown (default: the project's or "
                   "model's threshold; 0, never, with --support)")
    p.add_argument("--format", default="table", choices=["table", "csv", "json"], dest="fmt")
    p.add_argument("--top", type=int, default=3, metavar="K", help="also show the K most likely classes (table)")
    from .predict_csv import add_arguments as add_stream_arguments  # -o OUT.csv --resume (core.batch)

    add_stream_arguments(p)
    p.set_defaults(func=run)


def one_class_warning(name: str) -> str:
    """With one class and no unknown threshold every image is that class at 100 %."""
    return (f"only one class ({name}): every image will be predicted as {name} with 100 % confidence. "
            "At least two classes, or an unknown threshold, are needed to tell images apart")


def recognizer_for(args, queries: list[Path]):
    """The Recognizer ``fewlens predict`` / ``fewlens export`` asked for (--support / --project / --model)."""
    from ..recognizer import Recognizer
    from ..recognizer_build import build_recognizer, labeled_set_from_folders

    if getattr(args, "model", None) is not None:
        for opt in ("backbone", "method", "adapt"):
            if getattr(args, opt, None) is not None:
                raise FewLensError(f"{args.model}: --{opt} does not apply to an exported model (it is fixed in it)")
        return Recognizer.load(args.model)
    if getattr(args, "support", None) is not None:
        source = labeled_set_from_folders(args.support, warn=lambda t: print(f"fewlens: {t}", file=sys.stderr))
        source.pool = list(queries)  # transductive methods see the images to predict, as before
        threshold = 0.0 if args.threshold is None else args.threshold
        source.min_classes = 1
        if len(source.classes) == 1 and threshold == 0:
            print(f"fewlens: warning: {one_class_warning(source.classes[0].name)}; "
                  f"add a second class folder to {args.support} or set --threshold", file=sys.stderr)
    else:
        source, threshold = args.project, args.threshold
    if args.backbone is not None:
        from .backbone_args import resolve_backbone

        args.backbone = resolve_backbone(args)  # user ONNX / arch:weights with stated input settings
    progress, close = cli_progress()
    errors: list = []
    try:
        rec = build_recognizer(source, backbone=args.backbone, method=args.method, adapt=args.adapt,
                               threshold=threshold, device=getattr(args, "device", "cpu") or "cpu",
                               progress=progress, errors=errors)
    finally:
        close()
        for err in errors:
            print(f"fewlens: skipped {err}", file=sys.stderr)
    return rec


def run(args: argparse.Namespace) -> int:
    if getattr(args, "output", None) is not None:  # streaming to a file: core.batch
        from .predict_csv import run as run_streaming

        from ..backbones import DEFAULT_BACKBONE
        from ..methods import DEFAULT_METHOD

        args.threshold = 0.0 if args.threshold is None else args.threshold
        args.backbone = args.backbone or DEFAULT_BACKBONE
        args.method = args.method or DEFAULT_METHOD
        args.adapt = args.adapt or "auto"
        return run_streaming(args)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise FewLensError(f"--threshold must be between 0 and 1, not {args.threshold}")
    missing: list[ImageError] = []  # one bad path costs that path: the others are still predicted
    queries = find_images(args.images, errors=missing)
    for err in missing:
        print(f"fewlens: skipped {err}", file=sys.stderr)
    if not queries:
        raise FewLensError(f"{', '.join(map(str, args.images))}: no images found")
    rec = recognizer_for(args, queries)
    if args.model is not None and args.threshold is not None:
        rec.unknown_threshold = args.threshold
    feats = dict(rec.extra.get("features", {}))
    bad: dict[Path, ImageError] = {e.path: e for e in rec.extra.get("errors", []) if Path(e.path) in set(queries)}
    todo = [p for p in queries if p not in feats and str(p) not in bad]
    for p in todo:  # not in the build's pool (--project, --model): embed here, one bad file at a time
        try:
            feats[p] = rec.embed_images([p])[0]
        except ImageError as e:
            print(f"fewlens: skipped {e}", file=sys.stderr)
            bad[str(p)] = e
    good = [p for p in queries if p in feats]
    q = np.stack([feats[p] for p in good]) if good else np.zeros((0, rec.embed_dim), np.float32)
    pred = rec.predict_embeddings(q)
    names = rec.class_names

    rows = []
    for i, p in enumerate(good):
        order = np.argsort(-pred.probs[i])
        top = names[int(pred.top[i])]
        rows.append({
            "path": str(p),
            "prediction": None if pred.unknown[i] else top,
            "best_guess": top,
            "confidence": float(pred.confidence[i]),
            "unknown": bool(pred.unknown[i]),
            "probs": {names[j]: float(pred.probs[i, j]) for j in order},
        })
    out = sys.stdout
    if args.fmt == "json":
        doc = {"backbone": rec.provenance.get("backbone", {}).get("id"), "adapted": bool(rec.provenance.get("adapted")),
               "method": rec.method_name, "device": rec.extra.get("device_label", "CPU · ONNX Runtime"),
               "classes": names, "threshold": float(rec.unknown_threshold), "predictions": rows,
               "errors": [{"path": str(e.path), "reason": e.reason} for e in [*missing, *bad.values()]]}
        if args.model is not None:
            doc["model"] = str(args.model)
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.fmt == "csv":
        w = csv.writer(out)
        w.writerow(["path", "prediction", "confidence", "unknown", *[f"p_{c}" for c in names]])
        for r in rows:
            w.writerow([r["path"], r["prediction"] or "", f"{r['confidence']:.4f}", int(r["unknown"]),
                        *[f"{r['probs'][c]:.4f}" for c in names]])
    else:
        _print_table(rows, args.top, out)
    # a query that could not be read (or a path that was not there) is a partial failure: results
    # for the rest, exit status 1
    return 1 if bad or missing else 0


def _display_path(p: str) -> str:
    try:
        rel = os.path.relpath(p)
        return rel if not rel.startswith("..") else p
    except ValueError:  # another drive on Windows
        return p


def _print_table(rows: list[dict], top: int, out) -> None:
    names = [_display_path(r["path"]) for r in rows]
    width = max([len("image")] + [len(n) for n in names])
    preds = [r["prediction"] if not r["unknown"] else f"unknown ({r['best_guess']}?)" for r in rows]
    pw = max([len("prediction")] + [len(x) for x in preds])
    out.write(f"{'image':<{width}}  {'prediction':<{pw}}  {'conf':>5}  top {top}\n")
    for r, name, pr in zip(rows, names, preds):
        alts = ", ".join(f"{c} {p:.0%}" for c, p in list(r["probs"].items())[:top])
        out.write(f"{name:<{width}}  {pr:<{pw}}  {r['confidence']:>5.0%}  {alts}\n")
