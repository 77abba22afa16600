"""The two predictors core.batch runs today: a fitted few-shot method on an embedder, and an
exported ONNX classifier (the export issue's model contract).  A Recognizer with the same
attributes plugs in the same way.

ONNX contract (what ``fewlens export`` writes)::

    input   "images"    uint8 [N, S, S, 3] RGB, normalization inside the graph
    outputs "probs"     float32 [N, C], "top" int64 [N], "embedding" float32 [N, D]
    metadata_props["fewlens"] = JSON {classes: [{name, color}], method, backbone: {id, ...},
                                      unknown_threshold, input: {size, resize, ...}, ...}

``load_uint8`` is the one preprocessing function for that model: the single-process runner
(OnnxPredictor.prepare) and the Ray Data path (core.distributed) both call it, so they feed the
network the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError
from .images import load_image
from .preprocess import resize_center_crop

ONNX_INPUT = "images"
ONNX_PROBS = "probs"
METADATA_KEY = "fewlens"
# Images per ONNX Runtime run on the CPU, whatever the caller's batch.  ORT's arena keeps the
# largest activations it has seen and builds one memory plan per input shape: MobileNetV2 at
# batch 32 holds ~380 MB, at 16 ~200 MB, and a stream of mixed short batches grew a 100,000-file
# run from 340 to 660 MB.  One fixed shape (short runs are padded) keeps the arena flat (431 MB).
# No speed is lost: on a quiet 2-core machine chunks of 16 ran 183 img/s vs 157 for 32 end to end
# (bench/ab_batch_cli.py, 400 files, 3 interleaved rounds); an earlier A/B under load 7 had 16
# ~20 % slower (BENCHMARKS.md, batch section).
ORT_CHUNK = 16


@dataclass(frozen=True)
class Geometry:
    """Decode/crop geometry of a model input: shorter side -> ``resize``, center crop ``size``."""

    size: int
    resize: int


def crop_pixels(img, geometry: Geometry) -> np.ndarray:
    """PIL image -> (S, S, 3) uint8 RGB, core.preprocess's geometry (EXIF handled by load_image)."""
    return np.asarray(resize_center_crop(img, geometry.resize, geometry.size), dtype=np.uint8)


def load_uint8(path: os.PathLike | str, geometry: Geometry, data: bytes | None = None) -> np.ndarray:
    """File (or its bytes) -> the uint8 crop the exported model takes.  Raises ImageError."""
    return crop_pixels(load_image(path, min_side=geometry.resize, data=data), geometry)


def run_in_chunks(run, batch: np.ndarray, chunk: int = ORT_CHUNK) -> np.ndarray:
    """``run`` over ``batch`` in runs of exactly ``chunk`` rows (the last one zero-padded, the
    padding's outputs dropped): every call sees one input shape.  Rows are independent, so the
    result equals ``run(batch)``."""
    n = len(batch)
    if n == 0:
        return run(batch)
    parts = []
    for i in range(0, n, chunk):
        part = batch[i:i + chunk]
        k = len(part)
        if k < chunk:
            part = np.concatenate([part, np.zeros((chunk - k, *batch.shape[1:]), batch.dtype)])
        parts.append(np.asarray(run(part))[:k])
    return np.concatenate(parts)


# --------------------------------------------------------------------------- method on embedder
class MethodPredictor:
    """A few-shot method fitted on support embeddings, predicting through an embedder.

    ``embedder``: a core.embedder.Embedder (vectors cached under its backbone id, shared with
    the user/project cache) or an adapted backbone (``cacheable=False``: its vectors belong to
    one label set).
    """

    def __init__(self, embedder: Any, method: Any, method_name: str, threshold: float = 0.0,
                 cacheable: bool = True):
        from .pipeline import backbone_fingerprint
        from .preprocess import preprocess

        self.embedder = embedder
        self._method = method
        self._preprocess = preprocess
        spec = embedder.spec
        self.spec = spec
        self.backbone = spec.id
        self.method = method_name
        self.classes = [str(c) for c in method.classes_]
        self.threshold = float(threshold)
        self.min_side = int(spec.resize_size)
        self.cache_id = spec.id if cacheable else None
        self.fingerprint = backbone_fingerprint(spec) if cacheable else None

    def prepare(self, img) -> np.ndarray:
        return self._preprocess(img, self.spec)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        if getattr(self.embedder, "engine", None) == "onnxruntime":
            return run_in_chunks(self.embedder.embed_batch, batch)
        return self.embedder.embed_batch(batch)  # torch (CUDA: big batches are the point) or adapted

    def head(self, vectors: np.ndarray) -> np.ndarray:
        return self._method.predict_proba(vectors)


# --------------------------------------------------------------------------- exported ONNX model
def read_model_metadata(path: os.PathLike | str) -> dict:
    """The model's ``fewlens`` metadata (JSON), without building a session.  ModelFileError if absent."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelFileError(path, "file not found") from None
    except Exception as e:
        raise ModelFileError(path, f"not an ONNX model ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ModelFileError(path, "not a FewLens export (no 'fewlens' metadata: export it with fewlens export)")
    try:
        meta = json.loads(props[METADATA_KEY])
        meta["classes"] = [str(c["name"]) for c in meta["classes"]]
        meta["input"] = dict(meta["input"])
        int(meta["input"]["size"]), int(meta["input"]["resize"])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(path, f"damaged FewLens metadata ({e})") from None
    return meta


def model_digest(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class OnnxPredictor:
    """An exported FewLens classifier on ONNX Runtime (CPU).

    The graph's ``probs`` are its whole answer, so they are what gets cached (under the model
    file's hash: another export never reuses them) and ``head`` passes them through.
    """

    def __init__(self, model_path: os.PathLike | str, threads: int | None = None):
        from .ort import new_ort_session

        self.path = Path(model_path)
        meta = read_model_metadata(self.path)
        self.meta = meta
        self.classes = meta["classes"]
        self.method = str(meta.get("method", "?"))
        bb = meta.get("backbone") or {}
        self.backbone = str(bb.get("id", "?")) if isinstance(bb, dict) else str(bb)
        self.threshold = float(meta.get("unknown_threshold") or 0.0)
        self.geometry = Geometry(int(meta["input"]["size"]), int(meta["input"]["resize"]))
        self.min_side = self.geometry.resize
        digest = model_digest(self.path)
        self.cache_id = f"onnx-model:{digest[:16]}"
        self.fingerprint = digest
        try:
            self._session = new_ort_session(os.fspath(self.path), threads)
        except Exception as e:
            raise ModelFileError(self.path, f"not a loadable ONNX model ({str(e).strip().splitlines()[-1][:160]})") from None

    def prepare(self, img) -> np.ndarray:
        return crop_pixels(img, self.geometry)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return run_in_chunks(self._run, np.ascontiguousarray(batch, np.uint8))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        (probs,) = self._session.run([ONNX_PROBS], {ONNX_INPUT: batch})
        return probs

    def head(self, vectors: np.ndarray) -> np.ndarray:
        return vectors


__all__ = ["ORT_CHUNK", "Geometry", "MethodPredictor", "OnnxPredictor", "crop_pixels", "load_uint8",
           "read_model_metadata", "run_in_chunks"]
