"""What a backbone is: everything the rest of FewLens needs to know to run one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelFileError

if TYPE_CHECKING:  # torch stays out of the CPU inference path
    import torch

# ImageNet statistics (pixels scaled to [0, 1]), the torchvision convention
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TFLite uint8 input with scale 1/128 and zero point 128: x = (p - 128) / 128 for p in 0..255
TFLITE_UINT8_MEAN = (128 / 255,) * 3
TFLITE_UINT8_STD = (128 / 255,) * 3

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a weights file, memoized on (path, size, mtime) since specs ask for it often."""
    try:
        st = path.stat()
    except OSError as e:
        raise ModelFileError(path, f"model file not found ({e.strerror or e})") from e
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


@dataclass
class BackboneSpec:
    """A feature extractor FewLens can embed images with.

    ``builder`` returns a ``torch.nn.Module`` whose ``forward(x)`` maps NCHW float input to
    (N, embed_dim) embeddings and which has ``classify(x) -> logits`` when ``labels`` is set.
    A spec with ``onnx_file`` set instead is a ready ONNX feature extractor (no torch needed).
    """

    id: str
    title: str
    embed_dim: int
    license: str
    source: str
    input_size: int = 224
    resize_size: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    labels: list[str] | None = None
    builder: Callable[[], Any] | None = field(default=None, repr=False)
    # the file the weights come from (hashed for the cache key); None for built-in random init
    weights_file: Path | None = None
    # an ONNX feature extractor used as-is (user-supplied); its outputs: embedding[, logits]
    onnx_file: Path | None = None
    # bumps the cache key when the conversion code for this kind of backbone changes
    converter_version: str = "1"
    # free-form facts for `fewlens backbones` (architecture, dataset, ...)
    info: dict[str, str] = field(default_factory=dict)
    # the weights' pinned SHA-256, when known in advance (pip-installed weights): the cache key then
    # needs no read of the file (nor the file itself, for a bundle that ships the ONNX export)
    weights_sha256: str | None = None

    @property
    def has_head(self) -> bool:
        return bool(self.labels)

    def build_torch(self) -> torch.nn.Module:
        if self.builder is None:
            raise ModelFileError(self.onnx_file or self.id, "this backbone is an ONNX model and has no torch module")
        return self.builder()

    def weights_id(self) -> str:
        """Cache key: a hash of the weights file's bytes and the converter version.

        The file's content, not its path, identifies the model, so a user's weights file gives the
        same key wherever it lives (the id is hashed only for specs without a weights file).
        """
        h = hashlib.sha256()
        h.update(self.converter_version.encode())
        src = self.onnx_file or self.weights_file
        if self.weights_sha256 is not None and self.onnx_file is None:
            h.update(self.weights_sha256.encode())
            name = self.id
        elif src is not None:
            h.update(file_sha256(Path(src)).encode())
            name = self.id if not any(c in self.id for c in "/\\:") else Path(src).stem
        else:
            h.update(self.id.encode())
            name = self.id
        return f"{_safe(name)}-{h.hexdigest()[:16]}"

    def normalization(self) -> str:
        if tuple(self.mean) == TFLITE_UINT8_MEAN and tuple(self.std) == TFLITE_UINT8_STD:
            return "(p-128)/128"
        if tuple(self.mean) == IMAGENET_MEAN and tuple(self.std) == IMAGENET_STD:
            return "ImageNet mean/std"
        # one offset and scale for all channels, both whole pixel values: TF-style, e.g. (p-127)/128
        m255 = {round(m * 255, 4) for m in self.mean}
        s255 = {round(s * 255, 4) for s in self.std}
        if len(m255) == len(s255) == 1 and all(float(v).is_integer() for v in m255 | s255):
            return f"(p-{int(m255.pop())})/{int(s255.pop())}"
        return f"mean={tuple(round(m, 3) for m in self.mean)} std={tuple(round(s, 3) for s in self.std)}"


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep[:48] or "backbone"


def fspath(p: os.PathLike | str) -> Path:
    return Path(os.fspath(p)).expanduser()
