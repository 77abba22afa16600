"""Where FewLens keeps bundled assets, caches, preferences and the projects it creates."""

from __future__ import annotations

import os
from pathlib import Path


def assets_dir() -> Path:
    """Bundled weights, sample project and icons (``assets/`` at the repo root)."""
    return Path(os.environ.get("FEWLENS_ASSETS_DIR") or Path(__file__).resolve().parent.parent / "assets")


def _user_dir(env_var: str, kind: str) -> Path:
    """``$env_var`` if set (tests, CI, portable installs), else the platform's per-user folder."""
    env = os.environ.get(env_var)
    if env:
        p = Path(env)
    else:
        import platformdirs

        p = Path(getattr(platformdirs, f"user_{kind}_dir")("fewlens", appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    """Exported ONNX models and embedding caches; ``$FEWLENS_CACHE_DIR`` overrides."""
    return _user_dir("FEWLENS_CACHE_DIR", "cache")


def config_dir() -> Path:
    """Recent projects and preferences; ``$FEWLENS_CONFIG_DIR`` overrides."""
    return _user_dir("FEWLENS_CONFIG_DIR", "config")


def data_dir() -> Path:
    """Projects FewLens creates itself (the sample project); ``$FEWLENS_DATA_DIR`` overrides."""
    return _user_dir("FEWLENS_DATA_DIR", "data")
