"""``get_backbone``: a registered id, or a model file path that registers a user backbone.

Above both the registry and ``user`` (which registers into the registry), so neither imports back.
"""

from __future__ import annotations

import re

from ..errors import FewLensError
from .registry import DEFAULT_BACKBONE, backbone_ids, find_backbone
from .spec import BackboneSpec
from .user import register_user_backbone

# "resnet18:weights.pt": a torchvision architecture and a weights file, even without a "/" in it
_ARCH_WEIGHTS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]+:(?![/\\]{2}).+")


def get_backbone(backbone: str | BackboneSpec = DEFAULT_BACKBONE) -> BackboneSpec:
    """A spec by id; a path to an ``.onnx`` file registers it as a user backbone on the fly."""
    if isinstance(backbone, BackboneSpec):
        return backbone
    spec = find_backbone(backbone)
    if spec is not None:
        return spec
    if backbone.lower().endswith(".onnx") or "/" in backbone or "\\" in backbone or _ARCH_WEIGHTS.match(backbone):
        return register_user_backbone(backbone)
    raise FewLensError(f"unknown backbone {backbone!r}; choose from: {', '.join(backbone_ids())}")
