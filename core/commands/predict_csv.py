"""``fewlens predict ... --format csv -o OUT.csv [--resume]``: the streaming path of predict.

Fits on the support set as ``fewlens predict`` does, then hands the images to core.batch, which
writes rows as they are done in bounded memory.  Methods that use unlabeled images (softkmeans)
get the first UNLABELED_SAMPLE query files as their unlabeled set: always the same files in the
same order, so a resumed run fits the same model as the run it continues.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from ..errors import FewLensError, ImageError

UNLABELED_SAMPLE = 1000


def add_arguments(p) -> None:
    p.add_argument("-o", "--output", type=Path, metavar="OUT.csv",
                   help="write predictions to OUT.csv as they are done (memory bounded; with --format csv)")
    p.add_argument("--resume", action="store_true",
                   help="with -o: keep the rows already in OUT.csv and predict only the paths missing from it")


def run(args: argparse.Namespace) -> int:
    from ..batch import count_image_files, iter_image_files, predict_to_csv
    from ..embedding_cache import EmbeddingCache
    from .shared import progress_bar

    if args.fmt == "json":
        raise FewLensError("-o writes CSV: use --format csv (or leave --format out)")
    if not 0.0 <= args.threshold <= 1.0:
        raise FewLensError(f"--threshold must be between 0 and 1, not {args.threshold}")
    if args.output.is_dir():
        raise FewLensError(f"{args.output}: is a folder; -o takes the CSV file to write")
    total = count_image_files(args.images)  # also raises "file not found" for a missing PATH
    if total == 0:
        raise FewLensError(f"{', '.join(map(str, args.images))}: no images found")
    model = getattr(args, "model", None)
    if model is not None:
        from ..batch_predictors import OnnxPredictor

        predictor = OnnxPredictor(model)
        if args.threshold:
            predictor.threshold = args.threshold
    else:
        predictor = _fit_support(args)

    bar, update = progress_bar("predicting")
    try:
        with EmbeddingCache.default() as cache:
            summary = predict_to_csv(
                iter_image_files(args.images), predictor, args.output, resume=args.resume, top_k=args.top,
                cache=cache, batch_size=256 if getattr(getattr(predictor, "embedder", None), "device", "") == "cuda" else 32,
                total=total, progress=update,
                on_error=lambda e: print(f"fewlens: skipped {e}", file=sys.stderr))
    finally:
        bar.close()
    note = f", {summary.skipped} already in the file" if summary.skipped else ""
    print(f"fewlens: {summary.predicted} predicted, {summary.n_errors} unreadable{note} -> {args.output}",
          file=sys.stderr)
    return 1 if summary.n_errors else 0


def _fit_support(args):
    """The predict command's fit (support folders, method, --adapt), as a core.batch predictor."""
    from ..adaptation import MIN_SHOTS
    from ..batch import iter_image_files
    from ..batch_predictors import MethodPredictor
    from ..embedder import Embedder
    from ..methods import check_embedding_level, get_method
    from .shared import embed_with_progress, progress_bar, resolve_adapt, support_classes

    if getattr(args, "support", None) is None:
        raise FewLensError("give --support DIR (one subfolder of examples per class)")
    classes = support_classes(args.support)
    try:
        check_embedding_level(args.method)
        method = get_method(args.method)
    except ValueError as e:
        raise FewLensError(str(e)) from None
    embedder = Embedder(args.backbone, device=args.device)
    support_paths = [p for files in classes.values() for p in files]
    sample = list(itertools.islice(iter_image_files(args.images), UNLABELED_SAMPLE)) if method.uses_unlabeled else []
    res = embed_with_progress(support_paths + sample, embedder)
    sup, labels = [], []
    for name, files in classes.items():
        ok = [p for p in files if p in res.embeddings]
        if not ok:
            raise ImageError(args.support / name, "no readable example images for this class")
        sup += ok
        labels += [name] * len(ok)
    sample = [p for p in sample if p in res.embeddings]
    enough = len(classes) >= 2 and min(labels.count(c) for c in set(labels)) >= MIN_SHOTS
    adapt = resolve_adapt(args.adapt, embedder.spec.id, enough)
    net, cacheable = embedder, True
    if adapt:
        from ..adaptation import adapt_and_embed, adapted_method_kwargs
        from ..pipeline import EmbedResult

        bar, update = progress_bar("adapting the backbone to the labels")
        try:
            a = adapt_and_embed(embedder.spec.id, sup, labels, sup + sample, center_embeddings=res.matrix(sup + sample),
                                device=embedder.device, progress=lambda _stage, done, total: update(done, total))
        finally:
            bar.close()
        net = a.network
        res = EmbedResult(embeddings=a.embeddings, errors=a.errors)  # adapted vectors belong to this label set
        kept = [(p, lab) for p, lab in zip(sup, labels) if p in res.embeddings]
        sup, labels = [p for p, _ in kept], [lab for _, lab in kept]
        sample = [p for p in sample if p in res.embeddings]
        cacheable = False
        method = get_method(args.method, **adapted_method_kwargs(args.method))
    unlabeled = res.matrix(sample) if sample else None
    if method.uses_unlabeled and unlabeled is None:
        unlabeled = np.zeros((0, embedder.spec.embed_dim), np.float32)
    method.process_support_set(res.matrix(sup), labels, unlabeled=unlabeled if method.uses_unlabeled else None)
    return MethodPredictor(net, method, args.method, threshold=args.threshold, cacheable=cacheable)
