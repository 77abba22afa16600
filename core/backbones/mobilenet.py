"""Float PyTorch MobileNetV1 / V2 that reproduce the Coral TFLite graphs.

The one thing that silently breaks a port is padding: every TFLite conv here is TF "SAME", which on
a stride-2 layer with an even input pads 0 before and 1 after (bottom/right), while PyTorch's
``padding=1`` pads 1 on both sides and shifts the sampling grid by a pixel.  :class:`TFSamePad2d`
computes TF's padding from the actual input size instead, so the port stays exact at any size.

Both modules expose ``forward(x) -> (N, D)`` global-average-pooled features (the embedding) and,
when the file has a classifier, ``classify(x) -> logits``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .tflite_reader import ConvLayer, TFLiteNetwork


class TFSamePad2d(nn.Module):
    """Zero padding that matches TensorFlow's "SAME" for a given kernel and stride."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def _pads(self, size: int) -> tuple[int, int]:
        out = math.ceil(size / self.stride)
        total = max((out - 1) * self.stride + self.kernel - size, 0)
        return total // 2, total - total // 2  # TF puts the odd pixel after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(int(x.shape[-2]))
        left, right = self._pads(int(x.shape[-1]))
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class QuantizedStem(nn.Module):
    """The first conv (+ fused ReLU6) computed the way the quantized file computes it.

    Quantization-aware training tuned the network for the stem's output snapped to its uint8 grid,
    and some later depthwise filters amplify that grid by 100x+ (the iNaturalist files): a plain
    float stem there drifts to cosine 0.98 vs LiteRT.  So this layer reproduces TFLite's integer
    arithmetic: integer weights and bias, the accumulator rescaled and rounded onto the output grid.

    Exactness: the input is (p - 128) / 128, i.e. integers times a power of two, and the weights are
    small integers, so every product and partial sum is exact in float32 (|acc| < 2^24 levels) in
    any summation order.  torch, ONNX Runtime and LiteRT therefore make the same rounding decisions.
    The input scale is folded into the bias (exact for a power-of-two scale), so the layer costs a
    divide, a round and a clamp on the first feature map; the rest of the network stays float.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.pad = TFSamePad2d(kernel, stride)
        # integer weights; bias = integer bias * input scale (the conv sees the float input as is)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, bias=True)
        # conv-output units per output level: out_scale / w_scale.  Divided by, not multiplied:
        # ONNX Runtime folds a constant Mul after a Conv into the conv weights, which would make
        # them non-integers and change rounding decisions; it leaves a Div alone.
        self.register_buffer("units_per_level", torch.ones(1, cout, 1, 1))
        self.register_buffer("out_scale", torch.ones(()))
        # output levels relative to the zero point (the fused ReLU6 narrows the range)
        self.register_buffer("qmin", torch.zeros(()))
        self.register_buffer("qmax", torch.full((), 255.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            # bf16/fp16 cannot hold the accumulator exactly: this layer always runs in float32
            with torch.autocast(x.device.type, enabled=False):
                return self._forward(x.float())
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = self.conv(self.pad(x))  # == integer accumulator * input scale, exactly
        q = torch.clamp(torch.round(acc / self.units_per_level), self.qmin, self.qmax)
        return q * self.out_scale

    def load_quant(self, quant) -> None:
        mantissa, _ = math.frexp(quant.in_scale)
        if mantissa != 0.5:
            raise ValueError(f"input scale {quant.in_scale} is not a power of two: the stem would not be exact")
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(quant.weight_int))
            self.conv.bias.copy_(torch.from_numpy((quant.bias_int * quant.in_scale).astype("float32")))
            per_level = quant.out_scale / quant.weight_scale
            self.units_per_level.copy_(torch.from_numpy(per_level.astype("float32")).view(1, -1, 1, 1))
            self.out_scale.fill_(quant.out_scale)
            self.qmin.fill_(quant.out_qmin - quant.out_zero)
            self.qmax.fill_(quant.out_qmax - quant.out_zero)


class ConvAct(nn.Sequential):
    """TF-SAME conv (+ folded BatchNorm as bias) + optional ReLU6, as TFLite fuses them."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True):
        layers: list[nn.Module] = []
        if kernel > 1 and stride == 1 and kernel % 2 == 1:
            conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=True)
        else:
            if kernel > 1:
                layers.append(TFSamePad2d(kernel, stride))
            conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=True)
        layers.append(conv)
        if relu6:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)

    @property
    def conv(self) -> nn.Conv2d:
        return next(m for m in self if isinstance(m, nn.Conv2d))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, stride: int):
        super().__init__()
        self.expand = ConvAct(cin, hidden, 1) if hidden != cin else None
        self.depthwise = ConvAct(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvAct(hidden, cout, 1, relu6=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class _Backbone(nn.Module):
    """Shared tail: features -> global average pool -> embedding (+ optional linear head)."""

    embed_dim: int
    head: nn.Linear | None

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("this backbone has no classifier head")
        return self.head(self.forward(x))


# Standard configurations (width 1.0), as (expansion t, channels c, repeats n, first stride s).
MOBILENET_V2_CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
# (output channels, stride) of each depthwise-separable block
MOBILENET_V1_CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class MobileNetV2(_Backbone):
    def __init__(
        self, num_classes: int = 0, cfg=MOBILENET_V2_CFG, stem: int = 32, last: int = 1280, quantized_stem: bool = False
    ):
        super().__init__()
        self.stem = QuantizedStem(3, stem) if quantized_stem else ConvAct(3, stem, 3, 2)
        blocks, cin = [], stem
        for t, c, n, s in cfg:
            for i in range(n):
                blocks.append(InvertedResidual(cin, cin * t, c, s if i == 0 else 1))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.last = ConvAct(cin, last, 1)
        self.embed_dim = last
        self.head = nn.Linear(last, num_classes) if num_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.blocks(self.stem(x)))

    def conv_layers(self) -> list[nn.Conv2d]:
        """Convs in graph order (the order TFLite stores its ops in)."""
        out = [self.stem.conv]
        for b in self.blocks:
            if b.expand is not None:
                out.append(b.expand.conv)
            out += [b.depthwise.conv, b.project.conv]
        return out + [self.last.conv]


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(ConvAct(cin, cin, 3, stride, groups=cin), ConvAct(cin, cout, 1))


class MobileNetV1(_Backbone):
    def __init__(self, num_classes: int = 0, cfg=MOBILENET_V1_CFG, stem: int = 32, quantized_stem: bool = False):
        super().__init__()
        self.stem = QuantizedStem(3, stem) if quantized_stem else ConvAct(3, stem, 3, 2)
        blocks, cin = [], stem
        for c, s in cfg:
            blocks.append(DepthwiseSeparable(cin, c, s))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.embed_dim = cin
        self.head = nn.Linear(cin, num_classes) if num_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def conv_layers(self) -> list[nn.Conv2d]:
        out = [self.stem.conv]
        for b in self.blocks:
            out += [b[0].conv, b[1].conv]
        return out


def load_tflite_weights(model: MobileNetV1 | MobileNetV2, net: TFLiteNetwork) -> None:
    """Copy the dequantized TFLite layers into ``model``, checking every shape, stride and activation."""
    convs = model.conv_layers()
    body = [l for l in net.layers if l.kind != "linear"]
    heads = [l for l in net.layers if l.kind == "linear"]
    if len(body) != len(convs):
        raise ValueError(f"file has {len(body)} conv layers, {type(model).__name__} expects {len(convs)}")
    n_add = sum(1 for name, _ in net.ops if name == "ADD")
    n_res = sum(1 for m in model.modules() if isinstance(m, InvertedResidual) and m.residual)
    if n_add != n_res:
        raise ValueError(f"file has {n_add} residual adds, {type(model).__name__} expects {n_res}")
    # Which convs TFLite runs without ReLU6: the linear bottleneck projections of V2.
    linear_convs = {id(b.project.conv) for b in model.modules() if isinstance(b, InvertedResidual)}
    for i, (conv, layer) in enumerate(zip(convs, body)):
        _copy_conv(conv, layer, i, relu6=id(conv) not in linear_convs)
    if isinstance(model.stem, QuantizedStem):
        if body[0].quant is None:
            raise ValueError("the first conv is not quantized: cannot build an integer-exact stem")
        model.stem.load_quant(body[0].quant)
    if heads:
        if model.head is None or len(heads) != 1:
            raise ValueError("unexpected classifier layers in file")
        h = heads[0]
        if tuple(model.head.weight.shape) != h.weight.shape:
            raise ValueError(f"head shape {h.weight.shape} != {tuple(model.head.weight.shape)}")
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(h.weight))
            model.head.bias.copy_(torch.from_numpy(h.bias))
    elif model.head is not None:
        raise ValueError("file has no classifier head")


def _copy_conv(conv: nn.Conv2d, layer: ConvLayer, index: int, relu6: bool) -> None:
    where = f"layer {index} ({layer.name})"
    if tuple(conv.weight.shape) != layer.weight.shape:
        raise ValueError(f"{where}: weight {layer.weight.shape} != expected {tuple(conv.weight.shape)}")
    if conv.stride[0] != layer.stride:
        raise ValueError(f"{where}: stride {layer.stride} != expected {conv.stride[0]}")
    if layer.kind == "depthwise" and conv.groups != conv.in_channels:
        raise ValueError(f"{where}: depthwise layer where a full conv was expected")
    if (layer.activation == "relu6") != relu6:
        raise ValueError(f"{where}: activation {layer.activation} does not match the architecture")
    if layer.padding != "same" and conv.kernel_size[0] > 1:
        raise ValueError(f"{where}: only SAME padding is supported")
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.weight))
        conv.bias.copy_(torch.from_numpy(layer.bias))


ARCHITECTURES = {"mobilenet_v1": MobileNetV1, "mobilenet_v2": MobileNetV2}


def mobilenet_from_tflite(net: TFLiteNetwork, arch: str, quantized_stem: bool = False) -> MobileNetV1 | MobileNetV2:
    model = ARCHITECTURES[arch](num_classes=net.num_classes, quantized_stem=quantized_stem)
    load_tflite_weights(model, net)
    return model.eval()
