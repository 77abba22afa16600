"""A fitted few-shot method as an exportable head: embedding (N, D) -> class logits (N, C).

Every embedding-level method in ``core.methods`` reduces, once fitted, to one of three heads:

- ``linear``: ``logits = f(x) @ W.T + b`` with ``f`` = optional power transform, L2, optional
  "minus the mean, L2 again", then a scale.  ProtoNet (cosine: W = T * unit prototypes; Euclidean:
  W = 2p, b = -|p|^2, the softmax-invariant expansion of -|x - p|^2), soft k-means (centering,
  refined prototypes, output temperature; its "none of these" column only shapes the prototypes
  during the fit and is kept as provenance), the linear probe (W, b) and MAML / ANIL (the head
  after its inner-loop steps).
- ``siamese``: the weighted-L1 pair head against every support example, averaged per class,
  scaled by the Platt slope.
- ``relation``: the relation MLP on [q, p, |q - p|, q * p] against every class mean.

The head evaluates in NumPy (no torch: loading an exported model needs none) and builds the
equivalent torch module for the ONNX / TorchScript export.  Its state is a flat dict of arrays
plus a small JSON config, so it travels inside the exported file (``to_bytes`` / ``from_bytes``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from .errors import FewLensError
from .methods.base import FewShotMethod, l2_normalize, softmax

HEAD_KINDS = ("linear", "siamese", "relation")
#: rows per block when a pairwise head scores many queries (its (M, N, D) temporaries stay small)
PAIR_BLOCK = 64


class NotExportable(FewLensError):
    """A method whose fitted state is not an embedding -> logits head."""


@dataclass
class Head:
    kind: str
    method: str
    arrays: dict[str, np.ndarray]
    config: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        a = self.arrays
        return int(a["W"].shape[0] if self.kind == "linear" else a["class_weights"].shape[1]
                   if self.kind == "siamese" else a["protos"].shape[0])

    # ------------------------------------------------------------------ NumPy
    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim == 1:
            x = x[None]
        a, c = self.arrays, self.config
        if self.kind == "linear":
            f = _power(x, c.get("beta", 1.0))
            if c.get("l2", True):
                f = l2_normalize(f)
            if "mean" in a:
                f = l2_normalize(f - a["mean"])
            return (np.float32(c.get("scale", 1.0)) * f) @ a["W"].T + a["b"]
        q = l2_normalize(x)
        out = []
        for i in range(0, len(q), PAIR_BLOCK):
            qb = q[i:i + PAIR_BLOCK]
            if self.kind == "siamese":
                pair = np.abs(qb[:, None, :] - a["support"][None]) @ a["weight"] + a["bias"]
                out.append(np.float32(c["slope"]) * (pair @ a["class_weights"]))
            else:
                p = np.broadcast_to(a["protos"][None], (len(qb), *a["protos"].shape))
                qq = np.broadcast_to(qb[:, None, :], p.shape)
                h = np.concatenate([qq, p, np.abs(qq - p), qq * p], -1)
                for k in range(3):
                    h = h @ a[f"w{k}"].T + a[f"b{k}"]
                    if k < 2:
                        h = np.maximum(h, 0)
                out.append(h[..., 0])
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)

    def probs(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x).astype(np.float32), axis=1).astype(np.float32)

    # ------------------------------------------------------------------ torch
    def torch_module(self):
        """The same head as a ``torch.nn.Module`` (embedding -> logits), for export."""
        return _torch_head(self)

    # ------------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = json.dumps({"kind": self.kind, "method": self.method, "config": self.config})
        np.savez(buf, __meta__=np.frombuffer(meta.encode(), np.uint8), **self.arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Head":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            arrays = {k: z[k].astype(np.float32) for k in z.files if k != "__meta__"}
        if meta.get("kind") not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {meta.get('kind')!r}")
        return cls(meta["kind"], meta["method"], arrays, meta.get("config", {}))


def _power(x: np.ndarray, beta: float, eps: float = 1e-6) -> np.ndarray:
    if beta == 1.0:
        return x
    return (np.sign(x) * np.power(np.abs(x) + eps, beta)).astype(np.float32)


def _f32(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, np.float32))


def head_from_method(method: FewShotMethod) -> Head:
    """The fitted ``method`` as a head; :class:`NotExportable` with the reason when it has none."""
    name = getattr(method, "name", type(method).__name__)
    if getattr(method, "needs_images", False):
        raise NotExportable(f"method {name!r} fine-tunes the backbone inside the method and has no exportable "
                            "head; export with softkmeans, protonet, linear_probe, maml, siamese or relation")
    if method.classes_ is None:
        raise NotExportable(f"method {name!r} is not fitted yet")
    from .methods.calibration import Calibrated

    if isinstance(method, Calibrated):  # the project's confidence calibration: softmax(factor * logits)
        return scaled_head(head_from_method(method.method), method.factor)
    from .methods.auto import AutoMethod

    if isinstance(method, AutoMethod):  # the model it chose, with the temperature it refitted
        return scaled_head(head_from_method(method.inner), method.choice.temperature_power)
    from .methods.maml import MAMLMethod
    from .methods.protonet import PrototypicalNetwork
    from .methods.transductive import SoftKMeansProtoNet
    from .methods.transfer import LinearProbe

    if isinstance(method, SoftKMeansProtoNet):
        t = method.transform
        arrays = {"W": _f32(method.temperature_ * method.prototypes_),
                  "b": np.zeros(len(method.prototypes_), np.float32)}
        if t.mean_ is not None:
            arrays["mean"] = _f32(t.mean_)
        return Head("linear", name, arrays, {"beta": float(t.beta), "l2": bool(t.normalize_first),
                                             "temperature": float(method.temperature_),
                                             "reject": method.reject})
    if isinstance(method, PrototypicalNetwork):
        p = method.prototypes_
        if method.metric == "cosine":
            arrays = {"W": _f32(method.temperature * l2_normalize(p)), "b": np.zeros(len(p), np.float32)}
        else:  # -|x - p|^2 = 2 x.p - |p|^2 - |x|^2; the last term is the same for every class
            arrays = {"W": _f32(2 * p), "b": _f32(-(p.astype(np.float64) ** 2).sum(1))}
        return Head("linear", name, arrays, {"l2": bool(method.normalize or method.metric == "cosine"),
                                             "metric": method.metric})
    if isinstance(method, LinearProbe):
        arrays = {"W": _f32(method.W), "b": _f32(method.b)}
        if method.mean_ is not None:
            arrays["mean"] = _f32(method.mean_)
        return Head("linear", name, arrays, {"l2": True})
    if isinstance(method, MAMLMethod):
        return Head("linear", name, {"W": _f32(method.W), "b": _f32(method.b)},
                    {"l2": True, "scale": float(np.sqrt(method.temperature / 2.0))})
    if name == "siamese":
        y = method.support_y_
        c = len(method.classes_)
        onehot = np.eye(c, dtype=np.float32)[y]
        sd = {k: v.detach().cpu().numpy() for k, v in method.head.state_dict().items()}
        return Head("siamese", name, {"support": _f32(l2_normalize(method.support_)), "weight": _f32(sd["weight"]),
                                      "bias": _f32(sd["bias"]).reshape(()),
                                      "class_weights": _f32(onehot / onehot.sum(0, keepdims=True))},
                    {"slope": float(method.calib_[0])})
    if name == "relation":
        sd = {k: v.detach().cpu().numpy() for k, v in method.head.state_dict().items()}
        arrays = {"protos": _f32(method.protos_.detach().cpu().numpy())}
        for k, idx in enumerate((0, 2, 4)):
            arrays[f"w{k}"] = _f32(sd[f"mlp.{idx}.weight"])
            arrays[f"b{k}"] = _f32(sd[f"mlp.{idx}.bias"])
        return Head("relation", name, arrays, {})
    raise NotExportable(f"method {name!r} has no exportable head")


def scaled_head(head: Head, factor: float) -> Head:
    """``head`` with its logits multiplied by ``factor`` (power-scaled probabilities, as
    core.methods.calibration.power_scale does to any softmax output)."""
    if factor == 1.0:
        return head
    a, c = dict(head.arrays), dict(head.config)
    f = np.float32(factor)
    if head.kind == "linear":
        a["W"], a["b"] = _f32(a["W"] * f), _f32(a["b"] * f)
    elif head.kind == "siamese":
        c["slope"] = float(c["slope"]) * float(factor)
    else:  # relation: its last layer is linear
        a["w2"], a["b2"] = _f32(a["w2"] * f), _f32(a["b2"] * f)
    c["confidence_factor"] = float(factor) * float(head.config.get("confidence_factor", 1.0))
    return Head(head.kind, head.method, a, c)


def _torch_head(head: Head):
    import torch
    from torch import nn

    def buf(x):
        return torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def l2(x):
        return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    class LinearHead(nn.Module):
        def __init__(self):
            super().__init__()
            c = head.config
            self.beta = float(c.get("beta", 1.0))
            self.use_l2 = bool(c.get("l2", True))
            self.scale = float(c.get("scale", 1.0))
            self.register_buffer("W", buf(head.arrays["W"]))
            self.register_buffer("b", buf(head.arrays["b"]))
            self.center = "mean" in head.arrays
            if self.center:
                self.register_buffer("mean", buf(head.arrays["mean"]))

        def forward(self, x):
            if self.beta != 1.0:
                x = torch.sign(x) * torch.pow(x.abs() + 1e-6, self.beta)
            if self.use_l2:
                x = l2(x)
            if self.center:
                x = l2(x - self.mean)
            if self.scale != 1.0:
                x = x * self.scale
            return x @ self.W.T + self.b

    class SiameseHead(nn.Module):
        def __init__(self):
            super().__init__()
            for k in ("support", "weight", "bias", "class_weights"):
                self.register_buffer(k, buf(head.arrays[k]))
            self.slope = float(head.config["slope"])

        def forward(self, x):
            q = l2(x)
            pair = (q[:, None, :] - self.support[None]).abs() @ self.weight + self.bias
            return self.slope * (pair @ self.class_weights)

    class RelationHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("protos", buf(head.arrays["protos"]))
            a = head.arrays
            self.mlp = nn.Sequential(nn.Linear(*a["w0"].shape[::-1]), nn.ReLU(), nn.Linear(*a["w1"].shape[::-1]),
                                     nn.ReLU(), nn.Linear(*a["w2"].shape[::-1]))
            with torch.no_grad():
                for k, idx in enumerate((0, 2, 4)):
                    self.mlp[idx].weight.copy_(buf(a[f"w{k}"]))
                    self.mlp[idx].bias.copy_(buf(a[f"b{k}"]))

        def forward(self, x):
            q = l2(x)[:, None, :].expand(-1, self.protos.shape[0], -1)
            p = self.protos[None].expand(q.shape[0], -1, -1)
            return self.mlp(torch.cat([q, p, (q - p).abs(), q * p], -1)).squeeze(-1)

    return {"linear": LinearHead, "siamese": SiameseHead, "relation": RelationHead}[head.kind]().eval()


__all__ = ["HEAD_KINDS", "Head", "NotExportable", "head_from_method", "scaled_head"]
