"""``fewlens export``: the fitted model as one ONNX (or TorchScript) file, with a standalone runner.

    fewlens export my.fewlens --format onnx -o out/model.onnx
    fewlens export --support examples/ -o out/model.onnx [--backbone B] [--method M] [--adapt auto|on|off]

Writes beside the model ``<stem>.json`` (the same metadata as inside the file), ``labels.txt`` and,
for ONNX, ``predict_fewlens.py`` (needs only onnxruntime, numpy and Pillow).  The project is only
read.  Contract: docs/EXPORT.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FewLensError


def register(subparsers) -> None:
    from .shared import add_adapt_argument, add_model_arguments

    p = subparsers.add_parser(
        "export", help="export the fitted model (ONNX / TorchScript) with a standalone runner",
        description="Fit the project's method on its labels (or on SUPPORT/<class>/<images>), adapting the "
        "backbone where the settings say so, and write backbone + head as one model file.")
    p.add_argument("project", nargs="?", type=Path, metavar="PROJECT", help="a .fewlens project")
    p.add_argument("--support", type=Path, metavar="DIR", help="instead of a project: one subfolder per class")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"], dest="export_format")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="PATH", help="model file to write")
    add_model_arguments(p)
    add_adapt_argument(p)
    p.set_defaults(backbone=None, method=None, adapt=None, device="cpu")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="unknown threshold stored in the model (default: the project's, or estimated from the labels)")
    p.add_argument("--no-runner", action="store_true", help="do not write predict_fewlens.py beside the model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import check_exportable, export_recognizer
    from ..recognizer_build import build_recognizer, check_method
    from .shared import cli_progress

    if (args.project is None) == (args.support is None):
        raise FewLensError("give either a PROJECT or --support DIR (not both)")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise FewLensError(f"--threshold must be between 0 and 1, not {args.threshold}")
    if args.method is not None:
        check_method(args.method)  # a method without a head fails before any work
    out = args.output.expanduser()
    if out.is_dir():
        raise FewLensError(f"{out}: is a folder; give a file name such as {out / 'model.onnx'}")
    source = args.project if args.project is not None else args.support
    progress, close = cli_progress()
    errors: list = []
    try:
        rec = build_recognizer(source, backbone=args.backbone, method=args.method, adapt=args.adapt,
                               threshold=args.threshold, device=args.device, progress=progress, errors=errors,
                               for_export=True)  # a method / backbone that cannot be exported fails first
    finally:
        close()
        for err in errors:
            print(f"fewlens: skipped {err}", file=sys.stderr)
    check_exportable(rec)
    res = export_recognizer(rec, out, format=args.export_format, runner=not args.no_runner)
    p = rec.provenance
    labels = ", ".join(f"{k} {v}" for k, v in p["labels_per_class"].items())
    print(f"wrote {res.model} ({res.size_bytes / 1e6:.1f} MB, {args.export_format}) in {res.seconds:.1f} s")
    print(f"  classes: {labels} (labels per class)")
    print(f"  method: {p['method']}; backbone: {p['backbone']['id']}{' (adapted to the labels)' if p['adapted'] else ''}; "
          f"unknown below {rec.unknown_threshold:.0%}")
    print(f"  also: {res.sidecar.name}, {res.labels.name}" + (f", {res.runner.name}" if res.runner else ""))
    if res.runner:
        print(f"  run it: {res.runner_command}")
    return 0
