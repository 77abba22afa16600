"""``fewlens camera-bench``: the Camera panel's capture-and-recognize loop, headless.

    fewlens camera-bench --source 0|rtsp://...|clip.mp4 (--support DIR | --project P) [--seconds S] --json

Fits the model on labeled examples (a folder per class, or a project's labels), runs
core.camera.CameraLoop on the source for S seconds (or to the end of a video), and prints
frames read, frames recognized, fps (frames recognized per second) and frame-to-result
latency (median, p95).  A video file is delivered at its own frame rate, as a camera would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import FewLensError, ImageError, ProjectError
from .shared import add_adapt_argument, embed_with_progress, resolve_adapt, support_classes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "camera-bench",
        help="run the live camera loop headless and measure fps and latency",
        description="Recognize frames from a camera, stream URL or video file with a model fitted on "
        "labeled examples, as the Camera panel does, and report throughput and latency.",
    )
    p.add_argument("--source", required=True, metavar="INDEX|URL|VIDEO", help="camera number, stream URL or video file")
    grp = p.add_mutually_exclusive_group(required=True)
    grp.add_argument("--support", type=Path, metavar="DIR", help="folder with one subfolder of examples per class")
    grp.add_argument("--project", type=Path, metavar="P", help="a .fewlens project: its labeled images are the examples")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S", help="how long to run (default 10)")
    p.add_argument("--width", type=int, default=None, help="requested camera resolution (cameras only)")
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--no-pace", action="store_true", help="read a video file as fast as it decodes")
    # no defaults here: with --project, the project's own backbone and method are used
    p.add_argument("--backbone", default=None, help="feature extractor (default: the project's, else the app's)")
    p.add_argument("--method", default=None, help="few-shot method (default: the project's, else the app's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_adapt_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _fit(method_name: str, support: np.ndarray, labels: list, unlabeled: np.ndarray | None, adapted: bool):
    from ..fitting import fit_on_support
    from ..methods import check_embedding_level

    try:
        check_embedding_level(method_name)
        kwargs = {}
        if adapted:
            from ..adaptation import adapted_method_kwargs

            kwargs = adapted_method_kwargs(method_name)
        return fit_on_support(method_name, support, labels, unlabeled, kwargs)
    except ValueError as e:
        raise FewLensError(str(e)) from None


def _examples_from_support(root: Path) -> tuple[list[Path], list[str], list[Path]]:
    classes = support_classes(root)
    paths = [p for files in classes.values() for p in files]
    return paths, [name for name, files in classes.items() for _ in files], []


def _examples_from_project(path: Path) -> tuple[list[Path], list[str], list[Path], str | None, str | None]:
    from ..project import Project

    if not path.exists():
        raise ProjectError(path, "project file not found")
    with Project.open(path) as proj:
        names = {c.id: c.name for c in proj.classes()}
        recs = [r for r in proj.images() if not r.missing]
        backbone, method = proj.get_setting("backbone"), proj.get_setting("method")
    labeled = [r for r in recs if r.class_id in names]
    if not labeled:
        raise ProjectError(path, "no labeled images to recognize with (label a few in the app first)")
    return ([r.path for r in labeled], [names[r.class_id] for r in labeled],
            [r.path for r in recs if r.class_id is None], backbone, method)


def build_predictor(args: argparse.Namespace):
    """(predict callable, description dict) from --support or --project and the model options."""
    from ..adaptation import MIN_SHOTS
    from ..embedder import Embedder
    from ..frame_predictor import frames_predictor

    from ..backbones import DEFAULT_BACKBONE
    from ..methods import DEFAULT_METHOD

    p_backbone = p_method = None
    if args.support is not None:
        paths, labels, pool = _examples_from_support(args.support)
    else:
        paths, labels, pool, p_backbone, p_method = _examples_from_project(args.project)
    backbone = args.backbone or p_backbone or DEFAULT_BACKBONE
    method_name = args.method or p_method or DEFAULT_METHOD
    embedder = Embedder(backbone, device=args.device)
    res = embed_with_progress(paths + pool, embedder)
    ok = [(p, c) for p, c in zip(paths, labels) if p in res.embeddings]
    if not ok:
        raise ImageError(args.support or args.project, "no readable example images")
    sup, sup_labels = [p for p, _ in ok], [c for _, c in ok]
    good_pool = [p for p in pool if p in res.embeddings]
    counts = {c: sup_labels.count(c) for c in set(sup_labels)}
    adapt = resolve_adapt(args.adapt, embedder.spec.id, len(counts) >= 2 and min(counts.values()) >= MIN_SHOTS)
    features = embedder
    if adapt:
        features, res = _adapt(embedder, sup, sup_labels, good_pool, res)
    unl = res.matrix(good_pool) if good_pool else None
    method = _fit(method_name, res.matrix(sup), sup_labels, unl, adapt)
    names = [str(c) for c in method.classes_]
    predict = frames_predictor(features, method, names)
    engine = ("ONNX Runtime" if getattr(features, "session", None) is not None else "torch") if adapt \
        else embedder.device_label
    info = {"backbone": embedder.spec.id, "adapted": adapt, "method": method_name, "classes": names,
            "examples": len(sup), "engine": engine}
    return predict, info


def _adapt(embedder, sup: list[Path], labels: list[str], pool: list[Path], frozen):
    """Adapt the backbone to the examples (its CPU copy runs on ONNX Runtime) and re-embed them
    (core.adaptation.adapt_and_embed, the app's adapt path)."""
    from ..adaptation import adapt_and_embed
    from ..pipeline import EmbedResult

    print("fewlens: adapting the backbone to the examples…", file=sys.stderr)
    a = adapt_and_embed(embedder.spec.id, sup, labels, sup + pool, center_embeddings=frozen.matrix(sup + pool),
                        device=embedder.device)
    return a.network, EmbedResult(embeddings=a.embeddings, errors=a.errors)


def run(args: argparse.Namespace) -> int:
    from ..camera import CameraLoop, CameraSource

    if args.seconds <= 0:
        raise FewLensError(f"--seconds must be positive, not {args.seconds}")
    source = CameraSource.parse(args.source, args.width, args.height)
    if source.kind == "file" and not Path(source.value).is_file():
        raise FewLensError(f"{source.label}: video file not found")
    predict, info = build_predictor(args)
    # warm up outside the measurement: the first ONNX Runtime call allocates its buffers
    predict([np.zeros((480, 480, 3), np.uint8)])
    loop = CameraLoop(source, predict, pace=not args.no_pace).start()
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and loop.reading:
            time.sleep(0.05)
    finally:
        loop.stop()
    stats = loop.stats()
    if stats.frames_read == 0 and loop.error:
        raise FewLensError(loop.error)
    doc = {"source": source.label, **info, "frame_size": list(loop.frame_size or ()),
           **stats.as_dict(), "ended": loop.error}
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{source.label}: {stats.frames_read} frames read, {stats.frames_recognized} recognized in "
              f"{stats.seconds:.1f} s: {stats.fps:.1f} fps, latency median {stats.latency_median_ms:.1f} ms, "
              f"p95 {stats.latency_p95_ms:.1f} ms ({info['backbone']}{' adapted' if info['adapted'] else ''}, "
              f"{info['engine']})")
        if loop.error:
            print(f"fewlens: {loop.error}", file=sys.stderr)
    return 0
