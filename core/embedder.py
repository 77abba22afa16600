"""Run a backbone: images -> embeddings (and the backbone's own class guesses).

Two engines behind one API:
- CPU: ONNX Runtime on the cached ONNX export.  Torch is never imported on this path once the
  export exists, so a light bundle without torch can recognize images.
- CUDA: the torch module itself, channels-last, bf16/fp16 autocast, embeddings returned as float32.

``device="auto"`` picks CUDA when a GPU is usable, else the CPU engine.  Deciding that does not
import torch on machines with no NVIDIA driver at all.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import sys
import threading
from typing import TYPE_CHECKING

import numpy as np

from .backbones import DEFAULT_BACKBONE, BackboneSpec, get_backbone
from .backbones.onnx_export import EMBEDDING_OUTPUT, LOGITS_OUTPUT, onnx_path_for
from .errors import FewLensError
from .ort import ort_session, pool_feature_maps
from .preprocess import preprocess_batch

if TYPE_CHECKING:
    from PIL import Image

DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("onnxruntime", "torch")
# images per forward pass on each engine: small CPU batches keep memory and latency low
CPU_BATCH = 32
CUDA_BATCH = 512


def _nvidia_driver_present() -> bool:
    """Cheap check before importing torch just to ask torch.cuda.is_available()."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
    return ctypes.util.find_library("nvcuda" if sys.platform == "win32" else "cuda") is not None


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None or not _nvidia_driver_present():
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str = "auto") -> str:
    if device not in DEVICES:
        raise FewLensError(f"unknown device {device!r}; choose from: {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise FewLensError("device 'cuda' requested but no CUDA GPU is available (use --device cpu or auto)")
    return device


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


class Embedder:
    """Embeds images with one backbone on one device.  Thread-safe for concurrent calls.

    ``engine`` is normally implied by the device (CUDA: torch, CPU: ONNX Runtime); ``engine="torch"``
    on the CPU runs the torch module in float32 instead (parity checks, or a bundle without ORT).
    """

    def __init__(
        self,
        backbone: str | BackboneSpec = DEFAULT_BACKBONE,
        device: str = "auto",
        threads: int | None = None,
        engine: str | None = None,
    ):
        self.spec: BackboneSpec = get_backbone(backbone)
        self.device: str = resolve_device(device)
        if self.device == "cuda" and self.spec.builder is None and device == "auto":
            self.device = "cpu"  # a user's ONNX file has no torch module: run it on ONNX Runtime
        self.engine: str = engine or ("torch" if self.device == "cuda" else "onnxruntime")
        if self.engine not in ENGINES or (self.device == "cuda" and self.engine != "torch"):
            raise FewLensError(f"engine {self.engine!r} cannot run on device {self.device!r}")
        self.threads = threads
        self._lock = threading.Lock()
        self._torch_model = None
        self._session = None
        self._fixed_batch: int | None = None
        if self.engine == "torch":
            self._torch_model = self._build_torch_model()
        else:
            self._session = ort_session(onnx_path_for(self.spec), threads)
            outs = [o.name for o in self._session.get_outputs()]
            self._emb_output = EMBEDDING_OUTPUT if EMBEDDING_OUTPUT in outs else outs[0]
            self._logits_output = LOGITS_OUTPUT if LOGITS_OUTPUT in outs else None
            self._input_name = self._session.get_inputs()[0].name
            # an export without dynamic_axes takes exactly its traced batch (often 1): feed it that
            n = self._session.get_inputs()[0].shape[0]
            self._fixed_batch = n if isinstance(n, int) and n > 0 else None

    @property
    def device_label(self) -> str:
        if self.device == "cuda":
            import torch

            return f"GPU · {torch.cuda.get_device_name(0)} (CUDA, torch)"
        return "CPU · torch" if self.engine == "torch" else "CPU · ONNX Runtime"

    @property
    def embed_dim(self) -> int:
        return self.spec.embed_dim

    # -- public API ---------------------------------------------------------------------------

    def preprocess(self, images: list[Image.Image]) -> np.ndarray:
        return preprocess_batch(images, self.spec)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """PIL images -> (N, D) float32 embeddings (penultimate, global-average-pooled features)."""
        if not images:
            return np.zeros((0, self.spec.embed_dim), np.float32)
        batch = CUDA_BATCH if self.device == "cuda" else CPU_BATCH
        chunks = [self.embed_batch(self.preprocess(images[i : i + batch])) for i in range(0, len(images), batch)]
        return np.concatenate(chunks)

    def embed_batch(self, x: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 preprocessed batch -> (N, D) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) batch, got shape {x.shape}")
        if len(x) == 0:
            return np.zeros((0, self.spec.embed_dim), np.float32)
        if self._torch_model is not None:
            return self._torch_run(x, logits=False)
        return pool_feature_maps(self._ort_run(self._emb_output, x)).astype(np.float32, copy=False)

    def logits_batch(self, x: np.ndarray) -> np.ndarray | None:
        """(N, 3, H, W) -> (N, classes) logits of the backbone's own head, or None without a head."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._torch_model is not None:
            if getattr(self._torch_model, "head", None) is None:
                return None
            return self._torch_run(x, logits=True)
        if self._logits_output is None:
            return None
        return self._ort_run(self._logits_output, x).astype(np.float32, copy=False)

    def _ort_run(self, output: str, x: np.ndarray) -> np.ndarray:
        n = self._fixed_batch
        if n is None or len(x) == n:
            return self._session.run([output], {self._input_name: x})[0]
        parts = []
        for i in range(0, len(x), n):
            part = x[i : i + n]
            k = len(part)
            if k < n:  # pad the last slice to the model's batch, then drop the padding
                part = np.concatenate([part, np.zeros((n - k, *x.shape[1:]), x.dtype)])
            parts.append(self._session.run([output], {self._input_name: part})[0][:k])
        return np.concatenate(parts)

    def classify(self, images: list[Image.Image], k: int = 5) -> list[list[tuple[str, float]]]:
        """What the backbone itself sees: top-k (label, probability) per image; [] without a head."""
        if not self.spec.has_head:
            return [[] for _ in images]
        out: list[list[tuple[str, float]]] = []
        labels = self.spec.labels or []
        for i in range(0, len(images), CPU_BATCH):
            logits = self.logits_batch(self.preprocess(images[i : i + CPU_BATCH]))
            if logits is None:
                return [[] for _ in images]
            probs = _softmax(logits.astype(np.float64))
            for row in probs:
                top = np.argsort(-row)[:k]
                out.append([(labels[j] if j < len(labels) else str(j), float(row[j])) for j in top])
        return out

    # -- torch engine (CUDA, or CPU on request) ----------------------------------------------------

    def _build_torch_model(self):
        import torch

        model = self.spec.build_torch().eval()
        if self.device == "cuda":
            model = model.to("cuda", memory_format=torch.channels_last)
            self._amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            if self.threads:
                torch.set_num_threads(self.threads)
            self._amp_dtype = None  # CPU: plain float32, like the ONNX export
        return model

    def _torch_run(self, x: np.ndarray, logits: bool) -> np.ndarray:
        import contextlib

        import torch

        model, cuda = self._torch_model, self.device == "cuda"
        amp = torch.autocast("cuda", dtype=self._amp_dtype) if cuda else contextlib.nullcontext()
        step = CUDA_BATCH if cuda else CPU_BATCH
        out = []
        with self._lock, torch.inference_mode(), amp:
            for i in range(0, len(x), step):
                xb = torch.from_numpy(x[i : i + step])
                if cuda:
                    xb = xb.pin_memory().to("cuda", non_blocking=True).contiguous(memory_format=torch.channels_last)
                y = model.classify(xb) if logits else model(xb)
                out.append(y.float().cpu().numpy())
        return np.concatenate(out)
