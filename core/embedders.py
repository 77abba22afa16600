"""One Embedder per backbone, shared by the whole app (building one exports or loads ONNX)."""

from __future__ import annotations

import threading

_embedders: dict[str, object] = {}
_embedders_lock = threading.Lock()


def get_embedder(backbone: str):
    """One Embedder per backbone for the whole app (building one exports / loads ONNX)."""
    with _embedders_lock:
        emb = _embedders.get(backbone)
        if emb is None:
            from .embedder import Embedder

            emb = _embedders[backbone] = Embedder(backbone)
        return emb


def cached_embedder(backbone: str):
    """The embedder if it is already built (never blocks to build one)."""
    return _embedders.get(backbone)


def loading_text(backbone: str) -> str:
    """What the wait is for: a first start converts the model (tens of seconds, once)."""
    try:
        from .backbones import get_backbone
        from .backbones.onnx_export import onnx_path_for

        onnx_path_for(get_backbone(backbone), export=False)
    except Exception:  # noqa: BLE001 - not converted yet (or a user model): say the long version
        return "Preparing the recognition model for its first use (about 20 s, once)…"
    return "Loading the recognition model…"
