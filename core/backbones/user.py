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
# metadata_props keys an ONNX model may carry to state its own preprocessing ("fewlens." prefix optional):
# mean / std as three numbers for pixels in [0, 1] (or in 0..255 when any is above 1.5; one number means
# all channels), input_size / resize_size in pixels.
METADATA_KEYS = ("mean", "std", "input_size", "resize_size")
# Where torchvision keeps the final classifier, in the order we look for it.
_HEAD_ATTRS = ("fc", "classifier", "head", "heads")


def register_user_backbone(
    path: os.PathLike | str,
    arch: str | None = None,
    *,
    id: str | None = None,
    title: str | None = None,
    mean: tuple[float, float, float] | str | None = None,
    std: tuple[float, float, float] | str | None = None,
    input_size: int | None = None,
    resize_size: int | None = None,
    labels: list[str] | None = None,
) -> BackboneSpec:
    """Register a user model and return its spec.

    ``arch=None``: ``path`` is an ONNX model taking (N, 3, H, W) float input; its first output is
    the embedding ((N, D), or a (N, D, h, w) feature map that is average-pooled).  The input size
    is read from the model (224 when it is dynamic).  Preprocessing, in order: the arguments (``mean``
    / ``std`` as three numbers or a "R,G,B" string, for pixels in [0, 1]; 0..255 values are
    recognized), the model's ``metadata_props`` (:data:`METADATA_KEYS`), else ImageNet mean/std.
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
    mean = None if mean is None else parse_channels(mean, "mean", p)
    std = None if std is None else parse_channels(std, "std", p, positive=True)
    for name, v in (("input size", input_size), ("resize size", resize_size)):
        if v is not None and not (isinstance(v, int) and 16 <= v <= 4096):
            raise FewLensError(f"{p}: {name} must be a whole number of pixels between 16 and 4096, not {v!r}")
    if arch is None:
        spec = _onnx_spec(p, id, title, mean, std, input_size, resize_size, labels)
    else:
        spec = _torchvision_spec(p, arch, id, title, mean or IMAGENET_MEAN, std or IMAGENET_STD, input_size,
                                 resize_size, labels)
    return register_backbone(spec, replace=True)


def parse_channels(value, what: str, source, positive: bool = False) -> tuple[float, float, float]:
    """Three per-channel numbers for pixels in [0, 1] from a tuple or "R,G,B" / "[R, G, B]" text.

    One number means all three channels; values on the 0..255 scale (any above 1.5) are divided by 255,
    so (p - 127) / 128 may be written mean=127 std=128.
    """
    try:
        if isinstance(value, str):
            nums = [float(t) for t in value.replace("[", " ").replace("]", " ").replace(",", " ").split()]
        else:
            nums = [float(v) for v in value]
    except (TypeError, ValueError):
        raise FewLensError(f"{source}: {what} must be 1 or 3 numbers (e.g. 0.5,0.5,0.5), not {value!r}") from None
    if len(nums) == 1:
        nums *= 3
    if len(nums) != 3 or not all(np.isfinite(nums)) or (positive and min(nums) <= 0):
        raise FewLensError(f"{source}: {what} must be 1 or 3 {'positive ' if positive else ''}numbers, not {value!r}")
    if max(abs(v) for v in nums) > 1.5:
        nums = [v / 255.0 for v in nums]
    return tuple(nums)  # type: ignore[return-value]


def onnx_metadata(sess, p: Path) -> dict:
    """Preprocessing the model states in its metadata_props (see METADATA_KEYS); {} when none."""
    try:
        props = dict(sess.get_modelmeta().custom_metadata_map or {})
    except Exception:  # an exotic model without readable metadata: fall back to the defaults
        return {}
    found = {}
    for key in METADATA_KEYS:
        raw = props.get(f"fewlens.{key}", props.get(key))
        if raw is None:
            continue
        if key in ("mean", "std"):
            found[key] = parse_channels(raw, f"metadata {key}", p, positive=key == "std")
        else:
            try:
                found[key] = int(float(raw))
            except ValueError:
                raise FewLensError(f"{p}: metadata {key} must be a number of pixels, not {raw!r}") from None
    return found


# -- ONNX ------------------------------------------------------------------------------------------


def _onnx_spec(p: Path, id, title, mean, std, input_size, resize_size, labels) -> BackboneSpec:
    from ..ort import ort_session, pool_feature_maps

    sess = ort_session(p, threads=1)
    meta = onnx_metadata(sess, p)
    stated = {"arguments": [k for k, v in (("mean", mean), ("std", std), ("input_size", input_size),
                                           ("resize_size", resize_size)) if v is not None]}
    mean = mean if mean is not None else meta.get("mean", IMAGENET_MEAN)
    std = std if std is not None else meta.get("std", IMAGENET_STD)
    input_size = input_size if input_size is not None else meta.get("input_size")
    resize_size = resize_size if resize_size is not None else meta.get("resize_size")
    stated["model metadata"] = [k for k in meta if k not in stated["arguments"]]
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
    emb = pool_feature_maps(np.asarray(out))
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
        info={"architecture": "ONNX", "preprocessing": _provenance(stated),
              **({"fixed batch": fixed_batch} if fixed_batch else {})},
    )


def _provenance(stated: dict[str, list[str]]) -> str:
    parts = [f"{', '.join(keys)} from the {where}" for where, keys in stated.items() if keys]
    said = {k for keys in stated.values() for k in keys}
    if not {"mean", "std"} & said:  # the guess that is wrong for TF-style models: say it is one
        parts.append("ImageNet mean/std assumed (state yours with --mean/--std or metadata_props)")
    return "; ".join(parts)


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

