"""``fewlens predict``: label a few examples per class (one folder each), predict the rest.

    fewlens predict --support examples/ --images photos/ new.jpg [--format table|csv|json]

``examples/`` holds one subfolder per class.  Embeddings go through the user
embedding cache, so predicting again (or with another method) is instant.
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

DEFAULT_DEVICE = "auto"


def add_model_arguments(p) -> None:
    """--backbone / --method / --device, shared by the commands that embed and predict."""
    from ..backbones import DEFAULT_BACKBONE
    from ..methods import DEFAULT_METHOD

    p.add_argument("--backbone", default=DEFAULT_BACKBONE, help=f"feature extractor (default {DEFAULT_BACKBONE})")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"few-shot method (default {DEFAULT_METHOD})")
    p.add_argument("--device", default=DEFAULT_DEVICE, choices=["auto", "cpu", "cuda"])


def add_adapt_argument(p) -> None:
    """--adapt, shared by the commands that fit on labeled images."""
    p.add_argument("--adapt", default="auto", choices=["auto", "on", "off"],
                   help="fine-tune the backbone's last stage on the labeled images before predicting "
                   "(default auto: when every class has 5+ labels and the backbone is a MobileNetV2)")


def resolve_adapt(choice: str, backbone: str, enough_labels: bool) -> bool:
    """Whether --adapt CHOICE adapts this backbone; 'on' with a backbone that cannot adapt is an error."""
    from ..adaptation import can_adapt

    if choice == "off":
        return False
    if not can_adapt(backbone):
        if choice == "on":
            raise FewLensError(f"--adapt on: backbone {backbone} cannot be adapted (only the MobileNetV2 backbones)")
        return False
    return choice == "on" or enough_labels


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict classes for images from a few labeled examples",
        description="Fit a few-shot method on labeled examples (SUPPORT/<class>/<images>) and predict "
        "the class of every image in PATH... (files or folders).",
    )
    p.add_argument("--support", required=True, type=Path, metavar="DIR", help="folder with one subfolder per class")
    p.add_argument("--images", required=True, nargs="+", type=Path, metavar="PATH", help="images or folders to predict")
    add_model_arguments(p)
    add_adapt_argument(p)
    p.add_argument("--threshold", type=float, default=0.0, metavar="T",
                   help="mark predictions with confidence below T (0-1) as unknown (default 0: never)")
    p.add_argument("--format", default="table", choices=["table", "csv", "json"], dest="fmt")
    p.add_argument("--top", type=int, default=3, metavar="K", help="also show the K most likely classes (table)")
    p.set_defaults(func=run)


def support_classes(root: Path) -> dict[str, list[Path]]:
    """``root/<class>/**/<image>`` -> {class: [images]} (core.class_folders)."""
    from ..class_folders import read_class_folders

    return read_class_folders(root)


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="img", file=sys.stderr, disable=None, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() redraws at most every mininterval

    return bar, update


def embed_with_progress(paths: list[Path], embedder, desc: str = "embedding"):
    """embed_files with the user cache and a tqdm bar on stderr; bad files are warned about, once each."""
    from ..embedding_cache import EmbeddingCache
    from ..pipeline import embed_files

    bar, update = _progress_bar(desc)
    with EmbeddingCache.default() as cache:
        try:
            res = embed_files(paths, embedder, cache=cache, progress=update,
                              batch_size=256 if embedder.device == "cuda" else 32)
        finally:
            bar.close()
    for err in res.errors:
        print(f"fewlens: skipped {err}", file=sys.stderr)
    return res


def run(args: argparse.Namespace) -> int:
    from ..embedder import Embedder
    from ..methods import check_embedding_level, get_method

    if not 0.0 <= args.threshold <= 1.0:
        raise FewLensError(f"--threshold must be between 0 and 1, not {args.threshold}")
    classes = support_classes(args.support)
    queries = find_images(args.images)
    if not queries:
        raise FewLensError(f"{', '.join(map(str, args.images))}: no images found")
    try:
        check_embedding_level(args.method)
        method = get_method(args.method)
    except ValueError as e:
        raise FewLensError(str(e)) from None

    embedder = Embedder(args.backbone, device=args.device)
    support_paths = [p for files in classes.values() for p in files]
    res = embed_with_progress(support_paths + queries, embedder)
    bad = {Path(e.path) for e in res.errors}

    sup, sup_labels = [], []
    for name, files in classes.items():
        ok = [p for p in files if p in res.embeddings]
        if not ok:
            raise ImageError(args.support / name, "no readable example images for this class")
        sup += ok
        sup_labels += [name] * len(ok)
    good_queries = [p for p in queries if p in res.embeddings]
    from ..adaptation import MIN_SHOTS

    adapt = resolve_adapt(args.adapt, embedder.spec.id,
                          len(classes) >= 2 and min(sup_labels.count(c) for c in set(sup_labels)) >= MIN_SHOTS)
    if adapt:
        from ..adaptation import adapted_method_kwargs

        res = adapt_and_embed(embedder, sup, sup_labels, good_queries, res)
        method = get_method(args.method, **adapted_method_kwargs(args.method))
    q = res.matrix(good_queries) if good_queries else np.zeros((0, embedder.spec.embed_dim), np.float32)
    method.process_support_set(res.matrix(sup), sup_labels, unlabeled=q if method.uses_unlabeled else None)
    pred = method.predict(q, threshold=args.threshold)

    rows = []
    for i, p in enumerate(good_queries):
        order = np.argsort(-pred.probs[i])
        rows.append({
            "path": str(p),
            "prediction": None if pred.unknown[i] else str(pred.top[i]),
            "best_guess": str(pred.top[i]),
            "confidence": float(pred.confidence[i]),
            "unknown": bool(pred.unknown[i]),
            "probs": {str(pred.classes[j]): float(pred.probs[i, j]) for j in order},
        })
    out = sys.stdout
    if args.fmt == "json":
        doc = {"backbone": embedder.spec.id, "adapted": adapt, "method": args.method, "device": embedder.device_label,
               "classes": [str(c) for c in pred.classes], "threshold": args.threshold, "predictions": rows,
               "errors": [{"path": e.path, "reason": e.reason} for e in res.errors if Path(e.path) in set(queries)]}
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.fmt == "csv":
        w = csv.writer(out)
        cls = [str(c) for c in pred.classes]
        w.writerow(["path", "prediction", "confidence", "unknown", *[f"p_{c}" for c in cls]])
        for r in rows:
            w.writerow([r["path"], r["prediction"] or "", f"{r['confidence']:.4f}", int(r["unknown"]),
                        *[f"{r['probs'][c]:.4f}" for c in cls]])
    else:
        _print_table(rows, args.top, out)
    # a query that could not be read is a partial failure: results for the rest, exit status 1
    return 1 if any(p in bad for p in queries) else 0


def adapt_and_embed(embedder, support: list[Path], labels: list[str], queries: list[Path], frozen):
    """Adapt the backbone to the labeled images, then embed support + queries with it (not cached:
    the adapted network belongs to this label set)."""
    from ..adaptation import adapt_backbone
    from ..images import load_image
    from ..pipeline import embed_files

    bar, update = _progress_bar("adapting the backbone to the labels")
    try:
        images = [load_image(p, min_side=embedder.spec.resize_size) for p in support]
        center = frozen.matrix(support + queries)
        adapted = adapt_backbone(embedder.spec.id, images, labels, center_embeddings=center,
                                 device=embedder.device, progress=update)
    finally:
        bar.close()
    bar, update = _progress_bar("embedding with the adapted backbone")
    try:
        res = embed_files(support + queries, adapted, cache=None, progress=update)
    finally:
        bar.close()
    for err in res.errors:  # readable a moment ago: only a file changed meanwhile lands here
        print(f"fewlens: skipped {err}", file=sys.stderr)
    return res


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
