"""Export a backbone's torch module to ONNX once and keep it in the cache.

The exported graph takes ``input`` (N, 3, H, W) float32 with a dynamic batch axis and returns
``embedding`` (N, D) and, for backbones with a classifier head, ``logits`` (N, classes).
The file lives at ``cache_dir()/onnx/<spec.weights_id()>.onnx``; later runs (and the torch-free
CPU path) only read it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

from ..errors import ModelFileError
from ..paths import cache_dir
from .spec import BackboneSpec

log = logging.getLogger(__name__)

EMBEDDING_OUTPUT = "embedding"
LOGITS_OUTPUT = "logits"
INPUT_NAME = "input"
OPSET = 18


def onnx_cache_path(spec: BackboneSpec) -> Path:
    return cache_dir() / "onnx" / f"{spec.weights_id()}.onnx"


def onnx_path_for(spec: BackboneSpec, export: bool = True) -> Path:
    """The ONNX file to run for ``spec``.

    In order: the user's own ONNX file; a pre-exported ``assets_dir()/onnx/<weights_id>.onnx``
    (the torch-free bundle ships these); the cache, exporting with torch when missing.
    """
    if spec.onnx_file is not None:
        return Path(spec.onnx_file)
    from ..paths import assets_dir

    shipped = assets_dir() / "onnx" / f"{spec.weights_id()}.onnx"
    if shipped.is_file():
        return shipped
    path = onnx_cache_path(spec)
    if not path.exists():
        if not export:
            raise ModelFileError(path, "ONNX export not in the cache yet")
        export_onnx(spec, path)
    return path


def _export_module(model):
    """Wrap a backbone so one graph yields the embedding and, when present, the logits."""
    import torch

    has_head = getattr(model, "head", None) is not None and hasattr(model, "classify")

    class EmbedAndClassify(torch.nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, x):
            emb = self.backbone(x)
            if has_head:
                return emb, self.backbone.head(emb)
            return emb

    return EmbedAndClassify(model).eval(), has_head


def export_onnx(spec: BackboneSpec, path: Path | None = None) -> Path:
    """Export ``spec`` to ONNX at ``path`` (atomically; concurrent exporters are harmless)."""
    import torch

    path = path or onnx_cache_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    model, has_head = _export_module(spec.build_torch().float().eval())
    outputs = [EMBEDDING_OUTPUT, LOGITS_OUTPUT] if has_head else [EMBEDDING_OUTPUT]
    example = torch.zeros(2, 3, spec.input_size, spec.input_size)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        try:
            _export_dynamo(model, example, tmp, outputs)
        except Exception as e:  # the dynamo exporter still misses some patterns: use TorchScript's
            log.warning("dynamo ONNX export of %s failed (%s); using the TorchScript exporter", spec.id, e)
            _export_torchscript(model, example, tmp, outputs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if _is_bundled(spec):  # user models may share a file name: never prune theirs
        prune_stale(path)
    return path


def _is_bundled(spec: BackboneSpec) -> bool:
    from ..paths import assets_dir

    src = spec.weights_file
    return src is not None and Path(assets_dir()).resolve() in Path(src).resolve().parents


def prune_stale(path: Path) -> None:
    """Delete older cache entries of the same backbone (same ``<name>-`` prefix, other hash).

    Keys change when the weights or the converter change, so without this every upgrade would
    leave a dead 14 MB export behind.  Files still open elsewhere (Windows) are left alone.
    """
    name, _, _ = path.stem.rpartition("-")
    if not name:
        return
    for old in path.parent.glob(f"{name}-*{path.suffix}"):
        if old != path and old.stem.rpartition("-")[0] == name:
            try:
                old.unlink()
            except OSError:
                pass


def _export_dynamo(model, example, out: str, outputs: list[str]) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    program.save(out, external_data=False)


def _export_torchscript(model, example, out: str, outputs: list[str]) -> None:
    import torch

    axes = {INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            out,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
