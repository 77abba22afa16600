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
}

DEFAULT_METHOD = "softkmeans"


def method_names() -> list[str]:
    return sorted(METHODS)


def get_method(name: str = DEFAULT_METHOD, **kwargs) -> FewShotMethod:
    try:
        target = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose from: {', '.join(method_names())}") from None
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)(**kwargs)


__all__ = ["FewShotMethod", "Predictions", "METHODS", "DEFAULT_METHOD", "get_method", "method_names"]
