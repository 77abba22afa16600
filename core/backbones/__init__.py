"""Backbones (feature extractors): the registry, the bundled Coral MobileNets and user models.

Importing this package never imports torch; building a torch module (``spec.build_torch()``) does.
"""

from __future__ import annotations

from .registry import DEFAULT_BACKBONE, backbone_ids, list_backbones, register_backbone, unregister_backbone
from .resolve import get_backbone
from .spec import IMAGENET_MEAN, IMAGENET_STD, TFLITE_UINT8_MEAN, TFLITE_UINT8_STD, BackboneSpec
from .user import register_user_backbone


__all__ = [
    "BackboneSpec",
    "DEFAULT_BACKBONE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TFLITE_UINT8_MEAN",
    "TFLITE_UINT8_STD",
    "backbone_ids",
    "get_backbone",
    "list_backbones",
    "register_backbone",
    "register_user_backbone",
    "unregister_backbone",
]
