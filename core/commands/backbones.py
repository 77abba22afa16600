"""``fewlens backbones``: list the feature extractors FewLens can use."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backbones",
        help="list available backbones (feature extractors)",
        description="List the backbones: id, input, embedding size, provenance/license, classifier head.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--add",
        metavar="FILE",
        help="check and describe a user model: an .onnx feature extractor, or ARCH:WEIGHTS for torchvision",
    )
    from .backbone_args import add_input_arguments

    add_input_arguments(p)
    p.set_defaults(func=run)


def _row(spec, default: str) -> dict:
    return {
        "id": spec.id,
        "default": spec.id == default,
        "title": spec.title,
        "input": f"{spec.input_size}x{spec.input_size} (resize {spec.resize_size}, center crop)",
        "normalization": spec.normalization(),
        "embed_dim": spec.embed_dim,
        "head": f"{len(spec.labels)} classes" if spec.labels else "none",
        "license": spec.license,
        "source": spec.source,
        "adaptable": _adaptable(spec.id),
        **({"preprocessing": spec.info["preprocessing"]} if "preprocessing" in spec.info else {}),
    }


def _adaptable(backbone_id: str) -> bool:
    from ..adaptation import can_adapt

    return can_adapt(backbone_id)


def run(args: argparse.Namespace) -> int:
    from ..backbones import DEFAULT_BACKBONE, get_backbone, list_backbones

    specs = list_backbones()
    if args.add:
        from .backbone_args import resolve_backbone

        args.backbone = args.add
        added = get_backbone(resolve_backbone(args))
        specs = [added] + [s for s in specs if s.id != added.id]
    rows = [_row(s, DEFAULT_BACKBONE) for s in specs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        mark = "  (default)" if r["default"] else ""
        print(f"{r['id']}{mark}")
        print(f"    {r['title']}")
        print(f"    input {r['input']}, {r['normalization']}; embedding {r['embed_dim']}-d; head: {r['head']}")
        print(f"    source: {r['source']}")
        print(f"    license: {r['license']}")
        if "preprocessing" in r:
            print(f"    preprocessing: {r['preprocessing']}")
        if r["adaptable"]:
            from ..adaptation import MIN_SHOTS

            print(f"    adapts to a project's labels (last stage fine-tuned from {MIN_SHOTS} labels per class)")
    return 0
