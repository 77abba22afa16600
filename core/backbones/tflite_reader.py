"""Read a quantized TFLite MobileNet flatbuffer into float layers (NumPy only, no torch).

The Coral models are TF1 quantization-aware graphs: uint8 weights with one scale and a non-zero
zero point per tensor, int32 biases whose scale is input_scale * weight_scale, BatchNorm already
folded and ReLU6 fused into the conv ops.  Newer TF2 files use int8 per-channel weights; both are
handled by dequantizing along the tensor's ``quantized_dimension``.

What comes out is the network as an ordered list of :class:`ConvLayer` (conv, depthwise conv or
fully connected), already in PyTorch weight layout, plus the residual ADDs between them.  The
MobileNet modules in :mod:`core.backbones.mobilenet` consume that list in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

# Bump when the conversion below changes: it is part of every cached model's key.
CONVERTER_VERSION = "tflite-mobilenet-6"

# TFLite enum values (tflite.BuiltinOperator / ActivationFunctionType / Padding / TensorType);
# spelled out so the reader documents exactly which ops it understands.
_OP_NAMES = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    22: "RESHAPE",
    25: "SOFTMAX",
    114: "QUANTIZE",
}
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}
_PADDINGS = {0: "same", 1: "valid"}


@dataclass
class ConvLayer:
    """One weight-carrying op, dequantized, in PyTorch layout.

    kind: "conv" (weight OIHW), "depthwise" (weight C1HW, groups=C) or "linear" (weight OI).
    """

    kind: str
    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    padding: str = "same"
    activation: str | None = None
    input_tensor: int = -1
    output_tensor: int = -1
    name: str = ""
    # integer view of the same op, for layers that must be reproduced bit-exactly (see mobilenet.QuantizedStem)
    quant: LayerQuant | None = None


@dataclass
class LayerQuant:
    """A quantized conv as integers: out_q = clamp(round(acc * in_scale * w_scale / out_scale) + out_zero).

    acc = sum((x_q - in_zero) * weight_int) + bias_int, all integers (exact in float32 when small).
    """

    weight_int: np.ndarray  # (q - zero point), PyTorch layout, float32 holding integers
    weight_scale: np.ndarray  # (out,) per output channel (repeated when per-tensor)
    bias_int: np.ndarray  # (out,) int32 accumulator-domain bias, as float64
    in_scale: float
    in_zero: int
    out_scale: float
    out_zero: int
    out_qmin: int  # clamp range of out_q: the type's range narrowed by the fused activation
    out_qmax: int


@dataclass
class TFLiteNetwork:
    layers: list[ConvLayer]
    # op sequence as (op name, index into layers or -1), to check the topology a module expects
    ops: list[tuple[str, int]] = field(default_factory=list)
    input_shape: tuple[int, ...] = ()
    # (scale, zero_point) of the uint8/int8 input: the normalization the model was trained with
    input_quant: tuple[float, int] | None = None
    # tensor index of the global-average-pool output (the embedding) and of the logits, if any
    pool_output: int = -1
    logits_output: int = -1
    num_classes: int = 0


def _qparams(tensor) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(scale, zero point, quantized dimension) of a quantized tensor, or None."""
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = q.ScaleAsNumpy().astype(np.float64)
    zero = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
    return scale, zero, int(q.QuantizedDimension())


def _type_range(tensor) -> tuple[int, int] | None:
    import tflite

    return {tflite.TensorType.UINT8: (0, 255), tflite.TensorType.INT8: (-128, 127)}.get(tensor.Type())


def _raw(tensor, buf: bytes, model) -> np.ndarray:
    import tflite

    data = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if not isinstance(data, np.ndarray) or data.size == 0:
        raise ValueError(f"tensor {tensor.Name().decode()} has no constant data")
    dtypes = {
        tflite.TensorType.FLOAT32: np.float32,
        tflite.TensorType.INT32: np.int32,
        tflite.TensorType.UINT8: np.uint8,
        tflite.TensorType.INT8: np.int8,
    }
    ttype = tensor.Type()
    if ttype not in dtypes:
        raise ValueError(f"unsupported tensor type {ttype} for {tensor.Name().decode()}")
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
    return np.frombuffer(data.tobytes(), dtype=dtypes[ttype]).reshape(shape)


def _dequantize(tensor, buf: bytes, model) -> np.ndarray:
    arr = _raw(tensor, buf, model)
    if arr.dtype == np.float32:
        return arr.astype(np.float32)
    qp = _qparams(tensor)
    if qp is None:
        raise ValueError(f"quantized tensor {tensor.Name().decode()} has no scale")
    scale, zero, qdim = qp
    if scale.size > 1:  # per-channel: broadcast along the quantized dimension
        bshape = [1] * arr.ndim
        bshape[qdim] = scale.size
        scale = scale.reshape(bshape)
        zero = zero.reshape(bshape)
    return ((arr.astype(np.float64) - zero) * scale).astype(np.float32)


def _layer_quant(graph, model, buf: bytes, ins: list[int], out: int, kind: str, act: str | None) -> LayerQuant | None:
    """Integer parameters of a fully quantized conv op, or None if any part is float."""
    t_in, t_w, t_out = graph.Tensors(ins[0]), graph.Tensors(ins[1]), graph.Tensors(out)
    q_in, q_w, q_out = _qparams(t_in), _qparams(t_w), _qparams(t_out)
    rng = _type_range(t_out)
    if q_in is None or q_w is None or q_out is None or rng is None or len(ins) < 3 or ins[2] < 0:
        return None
    w = _raw(t_w, buf, model).astype(np.int64)
    w_scale, w_zero, qdim = q_w
    if w_zero.size > 1:
        bshape = [1] * w.ndim
        bshape[qdim] = w_zero.size
        w = w - w_zero.reshape(bshape)
    else:
        w = w - int(w_zero[0])
    w = w.transpose(0, 3, 1, 2) if kind == "conv" else w.transpose(3, 0, 1, 2)
    out_ch = w.shape[0]
    w_scale = np.broadcast_to(w_scale, (out_ch,)).astype(np.float64) if w_scale.size in (1, out_ch) else None
    if w_scale is None:
        return None
    out_scale, out_zero = float(q_out[0][0]), int(q_out[1][0])
    qmin, qmax = rng
    if act in ("relu", "relu6"):  # the fused activation narrows the output's integer range
        qmin = max(qmin, out_zero)
    if act == "relu6":
        qmax = min(qmax, out_zero + int(round(6.0 / out_scale)))
    return LayerQuant(
        weight_int=np.ascontiguousarray(w.astype(np.float32)),
        weight_scale=np.ascontiguousarray(w_scale),
        bias_int=_raw(graph.Tensors(ins[2]), buf, model).astype(np.float64),
        in_scale=float(q_in[0][0]),
        in_zero=int(q_in[1][0]),
        out_scale=out_scale,
        out_zero=out_zero,
        out_qmin=qmin,
        out_qmax=qmax,
    )


def read_tflite(path: str | Path) -> TFLiteNetwork:
    """Parse ``path`` and return its conv layers as float arrays.  Raises ModelFileError."""
    try:
        import tflite
    except ModuleNotFoundError as e:  # pragma: no cover - tflite is a runtime dependency
        raise ModelFileError(path, "reading TFLite files needs the 'tflite' package") from e

    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise ModelFileError(path, f"cannot read model file ({e.strerror or e})") from e
    # FlatBuffers put the 4-byte file identifier at offset 4
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFileError(path, "not a TFLite model (missing TFL3 identifier)")
    try:
        return _read(buf, tflite)
    except ModelFileError:
        raise
    except Exception as e:  # corrupt or truncated flatbuffers fail in many ways
        raise ModelFileError(path, f"cannot parse TFLite model: {e}") from e


def _read(buf: bytes, tflite) -> TFLiteNetwork:
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    inp = graph.Tensors(graph.Inputs(0))
    net = TFLiteNetwork(layers=[], input_shape=tuple(int(s) for s in inp.ShapeAsNumpy()))
    q = inp.Quantization()
    if q is not None and q.ScaleLength():
        net.input_quant = (float(q.ScaleAsNumpy()[0]), int(q.ZeroPointAsNumpy()[0]))

    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OP_NAMES.get(builtin)
        if name is None:
            raise ValueError(f"unsupported operator code {builtin} at op {i}")
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]

        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = _dequantize(graph.Tensors(ins[1]), buf, model)
            b = _dequantize(graph.Tensors(ins[2]), buf, model) if len(ins) > 2 and ins[2] >= 0 else None
            opts_table = op.BuiltinOptions()
            if name == "CONV_2D":
                opts = tflite.Conv2DOptions()
                opts.Init(opts_table.Bytes, opts_table.Pos)
                kind, weight = "conv", w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            elif name == "DEPTHWISE_CONV_2D":
                opts = tflite.DepthwiseConv2DOptions()
                opts.Init(opts_table.Bytes, opts_table.Pos)
                if opts.DepthMultiplier() not in (0, 1):
                    raise ValueError("depth multiplier != 1 is not supported")
                kind, weight = "depthwise", w.transpose(3, 0, 1, 2)  # 1HWO -> O1HW
            else:
                opts = tflite.FullyConnectedOptions()
                opts.Init(opts_table.Bytes, opts_table.Pos)
                kind, weight = "linear", w  # already (out, in)
            if kind != "linear" and (opts.DilationHFactor() > 1 or opts.DilationWFactor() > 1):
                raise ValueError("dilated convolutions are not supported")
            act = opts.FusedActivationFunction()
            if act not in _ACTIVATIONS:
                raise ValueError(f"unsupported fused activation {act} at op {i}")
            out_ch = weight.shape[0]
            layer = ConvLayer(
                kind=kind,
                weight=np.ascontiguousarray(weight),
                bias=b if b is not None else np.zeros(out_ch, np.float32),
                stride=1 if kind == "linear" else int(opts.StrideH()),
                padding="valid" if kind == "linear" else _PADDINGS[opts.Padding()],
                activation=_ACTIVATIONS[act],
                input_tensor=ins[0],
                output_tensor=outs[0],
                name=graph.Tensors(ins[1]).Name().decode(),
            )
            if kind != "linear":
                layer.quant = _layer_quant(graph, model, buf, ins, outs[0], kind, layer.activation)
            if kind != "linear" and opts.StrideH() != opts.StrideW():
                raise ValueError("non-square strides are not supported")
            net.ops.append((name, len(net.layers)))
            net.layers.append(layer)
        else:
            net.ops.append((name, -1))
            if name == "AVERAGE_POOL_2D":
                net.pool_output = outs[0]

    # A weight op that consumes the pooled features is the classifier head.
    if net.pool_output >= 0 and net.layers and net.layers[-1].input_tensor == net.pool_output:
        head = net.layers[-1]
        if head.kind == "conv":  # 1x1 conv head (TF1 slim) == linear layer
            head.weight = np.ascontiguousarray(head.weight[:, :, 0, 0])
            head.kind = "linear"
        net.logits_output = head.output_tensor
        net.num_classes = head.weight.shape[0]
    return net
