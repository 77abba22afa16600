"""Where FewLens keeps bundled assets and its caches."""

from __future__ import annotations

import os
from pathlib import Path


def assets_dir() -> Path:
    """Bundled weights, sample project and icons (``assets/`` at the repo root)."""
    return Path(os.environ.get("FEWLENS_ASSETS_DIR") or Path(__file__).resolve().parent.parent / "assets")


def cache_dir() -> Path:
    """Exported ONNX models and embedding caches; ``$FEWLENS_CACHE_DIR`` overrides (tests, CI)."""
    env = os.environ.get("FEWLENS_CACHE_DIR")
    if env:
        p = Path(env)
    else:
        from platformdirs import user_cache_dir

        p = Path(user_cache_dir("fewlens", appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def config_dir() -> Path:
    """Recent projects and preferences; ``$FEWLENS_CONFIG_DIR`` overrides (tests)."""
    env = os.environ.get("FEWLENS_CONFIG_DIR")
    if env:
        p = Path(env)
    else:
        from platformdirs import user_config_dir

        p = Path(user_config_dir("fewlens", appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p
