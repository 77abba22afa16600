"""Few-shot methods by name.  Each lives in its own module; heavy ones import torch lazily."""

from __future__ import annotations

import importlib

from .base import FewShotMethod, Predictions

# name -> "module:Class"; modules are imported on first use so the CPU path stays torch-free
METHODS: dict[str, str] = {
    "protonet": "core.methods.protonet:PrototypicalNetwork",
    "siamese": "core.methods.siamese:SiameseMethod",
    "relation": "core.methods.relation:RelationMethod",
    "maml": "core.methods.maml:MAMLMethod",
    "linear_probe": "core.methods.transfer:LinearProbe",
    "finetune": "core.methods.transfer:FineTune",
    "softkmeans": "core.methods.transductive:SoftKMeansProtoNet",
    "auto": "core.methods.auto:AutoMethod",
}

DEFAULT_METHOD = "auto"


# Methods that learn from pixels rather than cached embeddings (fine-tuning the backbone): minutes
# per fit on a CPU, so they are not offered in the live GUI loop nor the embedding-level commands
# (`predict`, `eval`); bench/bench_meta.py drives them through their image-level interface.
IMAGE_LEVEL_METHODS = frozenset({"finetune"})


def method_names(embedding_level_only: bool = False) -> list[str]:
    return sorted(n for n in METHODS if not (embedding_level_only and n in IMAGE_LEVEL_METHODS))


def check_embedding_level(name: str) -> None:
    """Raise ValueError for a method that needs images where only embeddings are available."""
    if name in IMAGE_LEVEL_METHODS:
        raise ValueError(f"method {name!r} fine-tunes on images and cannot run on cached embeddings; "
                         f"choose from: {', '.join(method_names(embedding_level_only=True))}")


def get_method(name: str = DEFAULT_METHOD, **kwargs) -> FewShotMethod:
    try:
        target = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose from: {', '.join(method_names())}") from None
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)(**kwargs)


__all__ = ["FewShotMethod", "Predictions", "METHODS", "DEFAULT_METHOD", "IMAGE_LEVEL_METHODS", "get_method",
           "method_names", "check_embedding_level"]
