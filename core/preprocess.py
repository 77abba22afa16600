"""Image -> network input: resize the shorter side, center-crop, normalize.  PIL + NumPy only.

Resizing the shorter side to 256 then center-cropping 224 keeps the aspect ratio (squashing a
whole photo to 224x224 distorts shapes and cost ~2 points of few-shot accuracy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from .backbones import BackboneSpec


def resize_center_crop(img: Image.Image, resize_size: int, crop_size: int) -> Image.Image:
    """Scale so the shorter side is ``resize_size`` (bilinear, antialiased), then crop the center."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    scale = resize_size / min(w, h)
    nw, nh = max(crop_size, round(w * scale)), max(crop_size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
    left, top = (nw - crop_size) // 2, (nh - crop_size) // 2
    return img.crop((left, top, left + crop_size, top + crop_size))


def crop_uint8(img: Image.Image, spec: BackboneSpec) -> np.ndarray:
    """The (H, W, 3) uint8 crop the network sees, before normalization (LiteRT's input too)."""
    return np.asarray(resize_center_crop(img, spec.resize_size, spec.input_size), dtype=np.uint8)


def normalize(pixels: np.ndarray, spec: BackboneSpec) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 with the spec's mean/std (for pixels in [0, 1])."""
    mean = np.asarray(spec.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std, np.float32) * 255.0)
    x = (pixels.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(img: Image.Image, spec: BackboneSpec) -> np.ndarray:
    """PIL image -> (3, input_size, input_size) float32, ready for the backbone."""
    return normalize(crop_uint8(img, spec), spec)


def preprocess_batch(images: list[Image.Image], spec: BackboneSpec) -> np.ndarray:
    if not images:
        return np.zeros((0, 3, spec.input_size, spec.input_size), np.float32)
    return np.stack([preprocess(im, spec) for im in images])
