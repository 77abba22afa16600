"""ONNX Runtime CPU sessions, shared by the embedder, user backbones, exports and batch runners.

Its own module so that code below the embedder (``core.backbones.user``) can open a session
without importing ``core.embedder``, which imports the backbones.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .errors import ModelFileError

_sessions: dict[tuple[str, int], object] = {}
_sessions_lock = threading.Lock()


def default_threads() -> int:
    """Intra-op threads for ONNX Runtime: every core (``FEWLENS_THREADS`` overrides)."""
    env = os.environ.get("FEWLENS_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def ort_session(path: Path, threads: int | None = None):
    """A cached ONNX Runtime CPU session for ``path``.  Raises ModelFileError on a bad file."""
    threads = threads or default_threads()
    key = (str(Path(path).resolve()), threads)
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is not None:
            return sess
        try:
            sess = new_ort_session(str(path), threads)
        except Exception as e:
            raise ModelFileError(path, f"not a loadable ONNX model ({first_line(e)})") from e
        _sessions[key] = sess
        return sess


def new_ort_session(model: str | bytes, threads: int | None = None):
    """An uncached ONNX Runtime CPU session for a model file path or the model's bytes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1][:200] if text else type(e).__name__


def pool_feature_maps(out: np.ndarray) -> np.ndarray:
    """Feature maps (N, C, H, W) from user ONNX models -> (N, C) by global average pooling."""
    if out.ndim > 2:
        out = out.reshape(out.shape[0], out.shape[1], -1).mean(axis=2)
    return out
