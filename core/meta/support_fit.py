"""Helpers for methods that fit a small torch head on a support set of frozen embeddings.

A head meta-trained for a backbone ships as ``assets/models/heads/<backbone>/<method>.pt`` (a slim
checkpoint holding ``config`` + ``model``, the head's state_dict); without one, a method fits its
head on the support set itself, using feature-dropout "views" of each support embedding as extra
same-class examples (so 1-shot classes still give positive pairs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..paths import assets_dir

HEADS_DIR = "models/heads"


def head_weights_path(backbone: str | None, method: str) -> Path | None:
    if not backbone:
        return None
    p = assets_dir() / HEADS_DIR / backbone / f"{method}.pt"
    return p if p.is_file() else None


def load_head_state(path: str | Path, method: str, dim: int) -> tuple[dict, dict]:
    """(config, state_dict) of a head checkpoint; ModelFileError names a file that does not fit."""
    from ..errors import ModelFileError
    from .checkpoints import load_checkpoint

    ck = load_checkpoint(path)
    cfg = ck["config"]
    if cfg.get("method") != method:
        raise ModelFileError(path, f"holds a {cfg.get('method')!r} head, not {method!r}")
    if int(cfg.get("dim", -1)) != dim:
        raise ModelFileError(path, f"head is for {cfg.get('dim')}-d embeddings; these are {dim}-d")
    state = ck["model"]
    # a full learner checkpoint stores the head under "head."; a head file stores it bare
    if any(k.startswith("head.") for k in state):
        state = {k[5:]: v for k, v in state.items() if k.startswith("head.")}
    return cfg, state


def feature_views(x, n_views: int, drop: float, noise: float, gen):
    """(N, D) -> (N * n_views, D): dropout-masked, noised copies (rescaled like dropout)."""
    import torch

    xs = x.repeat(n_views, 1)
    keep = (torch.rand(xs.shape, generator=gen) >= drop).to(xs.dtype) / (1 - drop)
    return xs * keep + noise * torch.randn(xs.shape, generator=gen) * xs.std()


def torch_threads_guard():
    """Small heads fit faster single-threaded than with a thread pool spin-up (and share the CPU)."""
    import torch

    class _G:
        def __enter__(self):
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

        def __exit__(self, *a):
            torch.set_num_threads(self.n)

    return _G()


def as_f32(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)
