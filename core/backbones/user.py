"""User-supplied backbones: any ONNX feature extractor, or a torchvision architecture + weights.

Both are checked when registered, so a wrong file fails at once with a ModelFileError naming it:
missing, not ONNX / not a state dict, truncated, or weights that do not fit the architecture.

Ids: an ONNX backbone's id is its absolute path; a torchvision one is ``"<arch>:<absolute path>"``.
Both forms can be passed back to :func:`core.backbones.get_backbone` (e.g. from a project file or
``--backbone``) and are re-registered on the fly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FewLensError, ModelFileError
from .registry import register_backbone
from .spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, fspath

USER_LICENSE = "user-supplied (license not checked)"
# Where torchvision keeps the final classifier, in the order we look for it.
_HEAD_ATTRS = ("fc", "classifier", "head", "heads")


def register_user_backbone(
    path: os.PathLike | str,
    arch: str | None = None,
    *,
    id: str | None = None,
    title: str | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    input_size: int | None = None,
    resize_size: int | None = None,
    labels: list[str] | None = None,
) -> BackboneSpec:
    """Register a user model and return its spec.

    ``arch=None``: ``path`` is an ONNX model taking (N, 3, H, W) float input; its first output is
    the embedding ((N, D), or a (N, D, h, w) feature map that is average-pooled).  The input size
    is read from the model (224 when it is dynamic).
    ``arch="resnet50"`` (any torchvision classification architecture): ``path`` is a state dict
    loaded with ``torch.load(weights_only=True)``; the classifier is removed to give embeddings and
    kept as the head for ``classify``.
    """
    if arch is None and ":" in os.fspath(path) and not Path(os.fspath(path)).exists():
        maybe_arch, _, rest = os.fspath(path).partition(":")
        if maybe_arch and not maybe_arch.startswith(("/", "\\", ".")) and len(maybe_arch) > 1:
            arch, path = maybe_arch, rest
    p = fspath(path).resolve()
    if not p.is_file():
        raise ModelFileError(p, "model file not found")
    if arch is None:
        spec = _onnx_spec(p, id, title, mean, std, input_size, resize_size, labels)
    else:
        spec = _torchvision_spec(p, arch, id, title, mean, std, input_size, resize_size, labels)
    return register_backbone(spec, replace=True)


# -- ONNX ------------------------------------------------------------------------------------------


def _onnx_spec(p: Path, id, title, mean, std, input_size, resize_size, labels) -> BackboneSpec:
    from ..embedder import _pool, ort_session

    sess = ort_session(p, threads=1)
    inputs = sess.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelFileError(p, f"expected one (N, 3, H, W) image input, model has {[tuple(i.shape) for i in inputs]}")
    _, c, h, w = inputs[0].shape
    if isinstance(c, int) and c != 3:
        raise ModelFileError(p, f"expected a 3-channel NCHW image input, model input has {c} channels")
    if "float" not in inputs[0].type:
        raise ModelFileError(p, f"expected a float input, model input is {inputs[0].type}")
    if input_size is None:
        input_size = h if isinstance(h, int) and h > 0 else 224
        if isinstance(w, int) and w > 0 and w != input_size:
            raise ModelFileError(p, f"non-square model input {h}x{w} is not supported")
    batch = inputs[0].shape[0]
    # a fixed batch (torch.onnx.export without dynamic_axes): the Embedder feeds it that many at a time
    fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
    dummy = np.zeros((fixed_batch or 1, 3, input_size, input_size), np.float32)
    try:
        out = sess.run([sess.get_outputs()[0].name], {inputs[0].name: dummy})[0]
    except Exception as e:
        raise ModelFileError(p, f"model failed on a {input_size}x{input_size} image ({str(e).splitlines()[0][:160]})") from e
    emb = _pool(np.asarray(out))
    if emb.ndim != 2:
        raise ModelFileError(p, f"first output has shape {np.shape(out)}; expected (N, D) or (N, D, h, w)")
    return BackboneSpec(
        id=id or str(p),
        title=title or f"{p.stem} (ONNX)",
        embed_dim=int(emb.shape[1]),
        license=USER_LICENSE,
        source=str(p),
        input_size=int(input_size),
        resize_size=int(resize_size or round(input_size * 256 / 224)),
        mean=tuple(mean),
        std=tuple(std),
        labels=labels,
        onnx_file=p,
        weights_file=p,
        converter_version="onnx-1",
        info={"architecture": "ONNX", **({"fixed batch": fixed_batch} if fixed_batch else {})},
    )


# -- torchvision -----------------------------------------------------------------------------------


def _load_state_dict(p: Path) -> dict:
    import torch

    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if "zip" in msg.lower() or "eof" in msg.lower() or "central directory" in msg.lower():
            raise ModelFileError(p, f"truncated or corrupt weights file ({msg})") from e
        raise ModelFileError(p, f"not a PyTorch state dict ({msg})") from e
    # common checkpoint wrappers: {"state_dict": ...} / {"model": ...}
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(p, "not a PyTorch state dict (expected a dict of tensors)")
    # DataParallel / DDP checkpoints prefix every key with "module."
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _find_head(model):
    """(parent module, attribute or index, final Linear) of a torchvision classifier."""
    import torch.nn as nn

    for attr in _HEAD_ATTRS:
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            return model, attr, head
        if isinstance(head, nn.Sequential):
            linears = [i for i, m in enumerate(head) if isinstance(m, nn.Linear)]
            if linears:
                return head, linears[-1], head[linears[-1]]
    return None


def _head_key_prefix(model, parent, where) -> str:
    for name, mod in model.named_modules():
        if mod is parent:
            return f"{name}.{where}." if name else f"{where}."
    return ""


def _embedding_model(model, parent, where):
    """``model`` with its final Linear swapped for Identity: forward -> embedding, classify -> logits."""
    import torch.nn as nn

    class TorchvisionEmbedder(nn.Module):
        def __init__(self):
            super().__init__()
            if isinstance(parent, nn.Sequential):
                head, parent[where] = parent[where], nn.Identity()
            else:
                head = getattr(parent, where)
                setattr(parent, where, nn.Identity())
            self.body = model
            self.head = head
            self.embed_dim = head.in_features

        def forward(self, x):
            return self.body(x).flatten(1)

        def classify(self, x):
            return self.head(self.forward(x))

    return TorchvisionEmbedder()


def _torchvision_spec(p: Path, arch: str, id, title, mean, std, input_size, resize_size, labels) -> BackboneSpec:
    try:
        import torchvision
    except ModuleNotFoundError as e:
        raise ModelFileError(p, "torchvision backbones need torch and torchvision installed") from e

    names = set(torchvision.models.list_models(module=torchvision.models))
    if arch not in names:
        raise FewLensError(f"unknown torchvision architecture {arch!r} for {p}; e.g. resnet50, mobilenet_v3_large")
    state = _load_state_dict(p)
    model = _build_torchvision(p, arch, state)
    found = _find_head(model)
    if found is None:
        raise ModelFileError(p, f"cannot find the classifier of {arch} to remove (unsupported architecture)")
    head = found[2]
    if labels is None and head.out_features == 1000:
        labels = _imagenet_categories(arch)

    def build():
        m = _build_torchvision(p, arch, _load_state_dict(p))
        parent, where, _ = _find_head(m)
        return _embedding_model(m, parent, where).eval()

    size = input_size or 224
    return BackboneSpec(
        id=id or f"{arch}:{p}",
        title=title or f"{arch} ({p.name})",
        embed_dim=int(head.in_features),
        license=USER_LICENSE,
        source=str(p),
        input_size=int(size),
        resize_size=int(resize_size or round(size * 256 / 224)),
        mean=tuple(mean),
        std=tuple(std),
        labels=labels,
        builder=build,
        weights_file=p,
        converter_version=f"torchvision-{arch}-1",
        info={"architecture": f"torchvision {arch}"},
    )


def _build_torchvision(p: Path, arch: str, state: dict):
    import torchvision

    # The classifier's size comes from the file, so fine-tuned models with any class count load.
    model = torchvision.models.get_model(arch, weights=None)
    found = _find_head(model)
    if found is not None:
        key = _head_key_prefix(model, found[0], found[1]) + "weight"
        weight = state.get(key)
        if weight is not None and weight.ndim == 2 and weight.shape[0] != found[2].out_features:
            model = torchvision.models.get_model(arch, weights=None, num_classes=int(weight.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        missing = [ln for ln in str(e).splitlines() if ln.strip()]
        detail = missing[1].strip()[:200] if len(missing) > 1 else str(e)[:200]
        raise ModelFileError(p, f"weights do not match torchvision {arch}: {detail}") from e
    return model.eval()


def _imagenet_categories(arch: str) -> list[str] | None:
    try:
        import torchvision

        return list(torchvision.models.get_model_weights(arch).DEFAULT.meta["categories"])
    except Exception:  # weights enum without categories: no labels, still embeds
        return None

