"""``--input-size / --resize / --mean / --std``: how a user ONNX backbone wants its pixels.

Shared by the commands that take ``--backbone``.  They apply to a user model only (a path to an
``.onnx`` file or ``ARCH:WEIGHTS``): the built-in backbones know their own preprocessing.
"""

from __future__ import annotations

import argparse

from ..errors import FewLensError

FLAGS = ("input_size", "resize", "mean", "std")


def add_input_arguments(p) -> None:
    g = p.add_argument_group("user backbone input (for --backbone FILE.onnx; default: the model's "
                             "metadata_props, else its input shape and ImageNet mean/std)")
    g.add_argument("--input-size", type=int, metavar="PX", help="square input size the model takes")
    g.add_argument("--resize", type=int, metavar="PX", help="shorter side before the center crop "
                   "(default input size x 256/224)")
    g.add_argument("--mean", metavar="R,G,B", help="per-channel mean for pixels in [0,1] "
                   "(0..255 values accepted: --mean 127 --std 128 is (p-127)/128)")
    g.add_argument("--std", metavar="R,G,B", help="per-channel std, same scale as --mean")


def resolve_backbone(args: argparse.Namespace) -> str:
    """``args.backbone``, registered with the stated input settings when any flag is given."""
    given = {k: getattr(args, k, None) for k in FLAGS if getattr(args, k, None) is not None}
    if not given:
        return args.backbone
    from ..backbones import get_backbone, register_user_backbone
    from ..backbones.registry import backbone_ids

    if args.backbone in backbone_ids() and get_backbone(args.backbone).onnx_file is None \
            and ":" not in args.backbone:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise FewLensError(f"{flags}: only for a user backbone file; {args.backbone} has its own preprocessing")
    spec = register_user_backbone(args.backbone, mean=given.get("mean"), std=given.get("std"),
                                  input_size=given.get("input_size"), resize_size=given.get("resize"))
    return spec.id
