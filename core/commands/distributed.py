"""``fewlens predict-distributed --model M.onnx --images URI... --output URI [--address ray://...]``:
an exported classifier over a large collection on Ray Data (core.distributed)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict-distributed",
        help="run an exported model over many images on a Ray cluster (pip install fewlens[distributed])",
        description="Predict every image under URI... with an exported FewLens ONNX model on Ray Data "
        "and write CSV or Parquet shards to the output folder/URI.  Without --address a local Ray "
        "runs on this machine.",
    )
    p.add_argument("--model", required=True, metavar="M.onnx", help="model written by fewlens export")
    p.add_argument("--images", required=True, nargs="+", metavar="URI", help="image files or folders (local, s3://, ...)")
    p.add_argument("--output", required=True, metavar="URI", help="folder or URI for the result shards")
    p.add_argument("--format", default="csv", choices=["csv", "parquet"], dest="fmt")
    p.add_argument("--address", default=None, metavar="ADDR", help="Ray cluster to join (ray://host:10001, or 'auto')")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="predictor actors (default 2)")
    p.add_argument("--batch-size", type=int, default=32, metavar="B")
    p.add_argument("--top", type=int, default=3, metavar="K", help="top-K classes per row (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed import predict_distributed
    from ..errors import FewLensError

    if args.workers < 1 or args.batch_size < 1:
        raise FewLensError("--workers and --batch-size must be at least 1")
    predict_distributed(args.model, args.images, args.output, fmt=args.fmt, address=args.address,
                        workers=args.workers, batch_size=args.batch_size, top_k=args.top)
    print(f"fewlens: predictions written to {args.output}", file=sys.stderr)
    return 0
