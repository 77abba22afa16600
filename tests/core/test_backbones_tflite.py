"""The TFLite reader and the TF "SAME" padding that a faithful port depends on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.backbones import get_backbone
from core.backbones.mobilenet import MobileNetV2, QuantizedStem, TFSamePad2d, mobilenet_from_tflite
from core.backbones.tflite_reader import read_tflite
from core.errors import ModelFileError


@pytest.fixture(scope="module")
def v2_net():
    return read_tflite(get_backbone("mobilenet_v2_imagenet").weights_file)


def test_same_padding_is_asymmetric_on_stride_2():
    pad = TFSamePad2d(3, 2)
    assert pad._pads(224) == (0, 1) and pad._pads(112) == (0, 1)  # even: the extra pixel goes after
    assert pad._pads(7) == (1, 1)  # odd: symmetric
    assert TFSamePad2d(3, 1)._pads(56) == (1, 1)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = pad(x)
    assert y.shape == (1, 1, 5, 5)
    assert torch.equal(y[0, 0, :4, :4], x[0, 0]) and y[0, 0, 4].abs().sum() == 0 and y[0, 0, :, 4].abs().sum() == 0


def test_reader_layers_layout_and_head(v2_net):
    net = v2_net
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("linear") == 1 and net.num_classes == 1001
    assert net.input_shape == (1, 224, 224, 3) and net.input_quant == (1 / 128, 128)
    stem, first_dw = net.layers[0], net.layers[1]
    assert stem.weight.shape == (32, 3, 3, 3) and stem.stride == 2 and stem.activation == "relu6"
    assert first_dw.kind == "depthwise" and first_dw.weight.shape == (32, 1, 3, 3)
    # stem quantization: integer weights in torch layout reproduce the dequantized float ones
    q = stem.quant
    np.testing.assert_allclose(q.weight_int * q.weight_scale[:, None, None, None], stem.weight, rtol=1e-6, atol=1e-7)
    assert (q.weight_int == np.round(q.weight_int)).all() and q.out_qmin == 0 and q.out_qmax == 255
    # V2's linear bottlenecks carry no activation; 10 residual adds
    assert sum(1 for layer in net.layers if layer.kind == "conv" and layer.activation is None) == 17
    assert sum(1 for name, _ in net.ops if name == "ADD") == 10


def test_symmetric_padding_would_silently_drift(v2_net):
    """Why the padding matters: PyTorch's padding=1 on stride-2 layers changes the features."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    model = mobilenet_from_tflite(v2_net, "mobilenet_v2")
    with torch.no_grad():
        good = model(x)

        def symmetric(self, t):
            return F.pad(t, (1, 1, 1, 1))[..., :-1, :-1] if self.stride == 2 else F.pad(t, (1, 1, 1, 1))

        orig = TFSamePad2d.forward
        TFSamePad2d.forward = symmetric  # emulate padding=1 (shifts the stride-2 sampling grid)
        try:
            bad = model(x)
        finally:
            TFSamePad2d.forward = orig
    cos = F.cosine_similarity(good, bad).min().item()
    assert cos < 0.99


def test_quantized_stem_reproduces_integer_arithmetic(v2_net):
    stem_layer = v2_net.layers[0]
    model = MobileNetV2(num_classes=1001, quantized_stem=True)
    from core.backbones.mobilenet import load_tflite_weights

    load_tflite_weights(model, v2_net)
    assert isinstance(model.stem, QuantizedStem)
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (1, 3, 16, 16))
    with torch.no_grad():
        out = model.stem(torch.from_numpy(((px - 128) / 128).astype(np.float32))).numpy()
    # reference in int64: TFLite's uint8 conv with SAME padding (0 before, 1 after)
    q = stem_layer.quant
    xi = np.pad(px - 128, ((0, 0), (0, 0), (0, 1), (0, 1)))
    acc = np.zeros((1, 32, 8, 8))
    w = q.weight_int.astype(np.int64)
    for i in range(8):
        for j in range(8):
            patch = xi[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            acc[0, :, i, j] = (patch[:, None] * w[None]).sum(axis=(2, 3, 4))[0]
    acc += q.bias_int[None, :, None, None]
    # the module divides acc * in_scale (exact) by out_scale / w_scale: same float32 rounding here
    per_level = (q.out_scale / q.weight_scale).astype(np.float32)[None, :, None, None]
    ref_q = np.clip(np.round((acc * q.in_scale).astype(np.float32) / per_level), 0, 255)
    np.testing.assert_allclose(out, ref_q * q.out_scale, atol=1e-6)


def test_not_a_tflite_file(tmp_path):
    p = tmp_path / "model.tflite"
    p.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="not a TFLite model") as e:
        read_tflite(p)
    assert str(p) in str(e.value)


def test_truncated_tflite_file(tmp_path):
    src = get_backbone("mobilenet_v2_imagenet").weights_file
    p = tmp_path / "cut.tflite"
    p.write_bytes(src.read_bytes()[:200_000])
    with pytest.raises(ModelFileError) as e:
        read_tflite(p)
    assert str(p) in str(e.value)


def test_missing_tflite_file(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        read_tflite(tmp_path / "gone.tflite")
