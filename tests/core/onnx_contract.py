"""Builds a small FewLens export of exactly the export issue's model contract, for tests that
run exported models before ``fewlens export`` exists here.

    input  "images" uint8 [N, S, S, 3] RGB (normalization in-graph)
    outputs "probs" float32 [N, C], "top" int64 [N], "embedding" float32 [N, D]
    metadata_props "fewlens" = JSON {format_version, classes, method, backbone, unknown_threshold, input, ...}

The graph is the project's own MobileNetV2 ONNX export with a uint8 NHWC front (cast, transpose,
per-channel affine) and a cosine-prototype head (L2-normalize, matmul, scale, softmax) on its
embedding output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_contract_model(out: Path, backbone_id: str, prototypes: np.ndarray, classes: list[str],
                         threshold: float = 0.0, temperature: float = 10.0) -> Path:
    from core.backbones import get_backbone
    from core.backbones.onnx_export import onnx_path_for
    from core.preprocess import _affine

    spec = get_backbone(backbone_id)
    model = onnx.load(str(onnx_path_for(spec)))
    g = model.graph
    (old_in,) = list(g.input)
    s = spec.input_size
    scale, offset = _affine(tuple(spec.mean), tuple(spec.std))  # the same float32 affine as core.preprocess
    protos = prototypes / np.linalg.norm(prototypes, axis=1, keepdims=True)
    inits = [
        numpy_helper.from_array(scale.reshape(1, 3, 1, 1).astype(np.float32), "fl_scale"),
        numpy_helper.from_array(offset.reshape(1, 3, 1, 1).astype(np.float32), "fl_offset"),
        numpy_helper.from_array(protos.T.astype(np.float32), "fl_protos"),
        numpy_helper.from_array(np.array(temperature, np.float32), "fl_temp"),
        numpy_helper.from_array(np.array([1], np.int64), "fl_axes"),
        numpy_helper.from_array(np.array(1e-12, np.float32), "fl_eps"),
    ]
    front = [
        helper.make_node("Cast", ["images"], ["fl_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["fl_f"], ["fl_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["fl_nchw", "fl_scale"], ["fl_scaled"]),
        helper.make_node("Add", ["fl_scaled", "fl_offset"], [old_in.name]),
    ]
    head = [
        helper.make_node("ReduceL2", ["embedding", "fl_axes"], ["fl_norm"], keepdims=1),
        helper.make_node("Max", ["fl_norm", "fl_eps"], ["fl_norm_safe"]),
        helper.make_node("Div", ["embedding", "fl_norm_safe"], ["fl_unit"]),
        helper.make_node("MatMul", ["fl_unit", "fl_protos"], ["fl_cos"]),
        helper.make_node("Mul", ["fl_cos", "fl_temp"], ["fl_logits"]),
        helper.make_node("Softmax", ["fl_logits"], ["probs"], axis=1),
        helper.make_node("ArgMax", ["probs"], ["top"], axis=1, keepdims=0),
    ]
    nodes = front + list(g.node) + head
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(inits)
    g.input.remove(old_in)
    g.input.append(helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", s, s, 3]))
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", len(classes)]),
        helper.make_tensor_value_info("top", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", spec.embed_dim]),
    ])
    meta = {
        "format_version": 1,
        "classes": [{"name": c, "color": "#E69F00"} for c in classes],
        "method": "protonet",
        "backbone": {"id": spec.id, "title": spec.title, "license": spec.license},
        "unknown_threshold": threshold,
        "input": {"size": s, "resize": spec.resize_size, "layout": "NHWC", "dtype": "uint8", "color": "RGB",
                  "resample": "bilinear"},
        "fewlens_version": "test",
        "exported_at": "2026-01-01T00:00:00Z",
        "labels_per_class": 2,
    }
    helper.set_model_props(model, {"fewlens": json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out
