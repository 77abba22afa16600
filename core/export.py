"""Write a Recognizer as one ONNX file (or TorchScript) with its sidecar, labels and runner.

The graph (docs/EXPORT.md is the contract): ``images`` uint8 [N, S, S, 3] RGB -> normalization ->
backbone (frozen or adapted) -> head -> ``probs`` float32 [N, C], ``top`` int64 [N],
``embedding`` float32 [N, D].  Metadata rides in ``metadata_props`` (``fewlens``: the JSON contract;
``fewlens_head``: the head's arrays, base64 npz, so the file re-imports as a project's model).
Every file is written to a temporary name beside the target and moved into place, so a full disk
or a cancel never leaves a half-written model under the user's name.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import Cancelled, FewLensError
from .heads import NotExportable
from .model_format import HEAD_KEY, INPUT_IMAGES, METADATA_KEY, OUTPUT_EMBEDDING, OUTPUT_PROBS, OUTPUT_TOP

# ``rec`` below is a core.recognizer.Recognizer; not imported, not even for typing: the Recognizer calls
# this module, and the two stay one-way.

FORMATS = ("onnx", "torchscript")
OPSET = 18
RUNNER_NAME = "predict_fewlens.py"
LABELS_NAME = "labels.txt"


@dataclass
class ExportResult:
    model: Path
    sidecar: Path
    labels: Path
    runner: Path | None
    size_bytes: int
    seconds: float

    @property
    def runner_command(self) -> str:
        if self.runner is None:
            return ""
        return f'python "{self.runner}" "{self.model}" IMAGES_OR_FOLDER [--csv out.csv]'


def check_exportable(rec) -> None:
    """Raise :class:`NotExportable` up front (before minutes of work) when the graph cannot be built."""
    if rec.head is None:
        raise NotExportable(rec.extra.get("not_exportable") or f"method {rec.method_name!r} has no exportable head")
    if rec.adapted is None and (rec.spec is None or getattr(rec.spec, "builder", None) is None):
        bid = rec.provenance.get("backbone", {}).get("id", "?")
        raise NotExportable(f"backbone {bid} is an ONNX file without a torch module; FewLens can only export "
                            "backbones it builds itself (the bundled ones, or ARCH:WEIGHTS)")


def build_graph(rec):
    """The torch module of the whole model: uint8 NHWC images -> (probs, top, embedding)."""
    import torch
    from torch import nn

    from .preprocess import _affine

    check_exportable(rec)
    # a copy: moving the adapted network to the CPU for export must not move the app's one
    backbone = copy.deepcopy(rec.adapted.model) if rec.adapted is not None else rec.spec.build_torch()
    backbone = backbone.float().eval().cpu()
    scale, offset = _affine(tuple(rec.contract.mean), tuple(rec.contract.std))

    class FewLensGraph(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.head = rec.head.torch_module()
            # the same float32 multiply-add as core.preprocess.normalize, so pixels match bit for bit
            self.register_buffer("scale", torch.from_numpy(scale.reshape(1, 3, 1, 1).copy()))
            self.register_buffer("offset", torch.from_numpy(offset.reshape(1, 3, 1, 1).copy()))

        def forward(self, images):
            x = images.permute(0, 3, 1, 2).to(torch.float32)
            x = x * self.scale + self.offset
            emb = self.backbone(x)
            probs = torch.softmax(self.head(emb), dim=1)
            return probs, torch.argmax(probs, dim=1), emb

    return FewLensGraph().eval()


def _tmp_beside(path: Path, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    return tmp


def _writable_dir(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FewLensError(f"{parent}: cannot create the folder ({e.strerror or e})") from None
    if path.is_dir():
        raise FewLensError(f"{path}: is a folder; give a file name such as {path / 'model.onnx'}")
    if not os.access(parent, os.W_OK):
        raise FewLensError(f"{parent}: folder is not writable")


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp_beside(path, ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise FewLensError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _onnx_bytes(graph, size: int, meta: dict, head_bytes: bytes) -> bytes:
    import io

    import onnx
    import torch

    buf = io.BytesIO()
    axes = {INPUT_IMAGES: {0: "batch"}, OUTPUT_PROBS: {0: "batch"}, OUTPUT_TOP: {0: "batch"},
            OUTPUT_EMBEDDING: {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript-path exporter: ~1 s for MobileNetV2 (the dynamo one takes far longer here)
        torch.onnx.export(graph, (torch.zeros(2, size, size, 3, dtype=torch.uint8),), buf, dynamo=False,
                          input_names=[INPUT_IMAGES], output_names=[OUTPUT_PROBS, OUTPUT_TOP, OUTPUT_EMBEDDING],
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    del model.metadata_props[:]
    for key, value in ((METADATA_KEY, json.dumps(meta, ensure_ascii=False)),
                       (HEAD_KEY, base64.b64encode(head_bytes).decode("ascii"))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "FewLens"
    model.producer_version = str(meta.get("fewlens_version", ""))
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _torchscript_bytes(graph, size: int, meta: dict, head_bytes: bytes) -> bytes:
    import io

    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, (torch.zeros(2, size, size, 3, dtype=torch.uint8),), check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={"fewlens.json": json.dumps(meta, ensure_ascii=False),
                                              "fewlens_head.npz": head_bytes})
    return buf.getvalue()


def export_recognizer(rec, path: Path, format: str = "onnx", runner: bool = True,
                      progress=None, cancel=None) -> ExportResult:
    """Write ``rec`` to ``path`` (+ ``<stem>.json``, ``labels.txt`` and, for ONNX, the runner beside it).

    ``progress(done, total)`` counts the steps; ``cancel()`` True raises Cancelled before any file is
    replaced.  Errors (unwritable folder, full disk, a method without a head) are one-line
    :class:`FewLensError` naming the file; nothing half-written is left under the target names.
    """
    if format not in FORMATS:
        raise FewLensError(f"unknown export format {format!r}; choose from: {', '.join(FORMATS)}")
    path = Path(path).expanduser()
    check_exportable(rec)
    _writable_dir(path)
    t0 = time.perf_counter()
    steps = 4

    def step(i: int) -> None:
        if cancel is not None and cancel():
            raise Cancelled("export cancelled")
        if progress is not None:
            progress(i, steps)

    step(0)
    meta = rec.metadata()
    head_bytes = rec.head.to_bytes()
    try:
        graph = build_graph(rec)
    except NotExportable:
        raise
    step(1)
    write = _onnx_bytes if format == "onnx" else _torchscript_bytes
    data = write(graph, rec.contract.size, meta, head_bytes)
    step(2)
    sidecar = path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")
    labels = path.parent / LABELS_NAME
    _write_bytes(path, data)
    _write_bytes(sidecar, (json.dumps({**meta, "model": path.name, "format": format}, indent=2,
                                      ensure_ascii=False) + "\n").encode())
    _write_bytes(labels, ("\n".join(c.name for c in rec.classes) + "\n").encode())
    runner_path = None
    if runner and format == "onnx":
        from . import standalone_runner

        runner_path = path.parent / RUNNER_NAME
        _write_bytes(runner_path, Path(standalone_runner.__file__).read_bytes())
    step(3)
    result = ExportResult(path, sidecar, labels, runner_path, len(data), time.perf_counter() - t0)
    step(4)
    return result


def load_torchscript(path: os.PathLike | str):
    """(module, metadata) of an exported TorchScript file."""
    import torch

    files = {"fewlens.json": ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return module, json.loads(files["fewlens.json"])


def run_torchscript(module, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        probs, top, emb = module(torch.from_numpy(np.ascontiguousarray(crops, np.uint8)))
    return probs.numpy(), top.numpy(), emb.numpy()


__all__ = ["ExportResult", "FORMATS", "LABELS_NAME", "RUNNER_NAME", "build_graph", "check_exportable",
           "export_recognizer", "load_torchscript", "run_torchscript"]
