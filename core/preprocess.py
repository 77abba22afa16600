"""Image -> network input: resize the shorter side, center-crop, normalize.  PIL + NumPy only.

Resizing the shorter side to 256 then center-cropping 224 keeps the aspect ratio (squashing a
whole photo to 224x224 distorts shapes and cost ~2 points of few-shot accuracy).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from .backbones import BackboneSpec

# Bump when the pixels handed to the backbone change for the same spec: cached embeddings depend
# on it (core.pipeline folds it into the cache fingerprint).
PREPROCESS_VERSION = 1


#: Beyond this many crops' worth of pixels the resized image is cut to its center first: a
#: 60000x2 strip scaled up to a 256-pixel short side would take gigabytes (issue 14).  Images up
#: to ~60:1 never reach it, so their pixels are unchanged (no PREPROCESS_VERSION bump).
_MAX_RESIZED_CROPS = 64


def resize_center_crop(img: Image.Image, resize_size: int, crop_size: int) -> Image.Image:
    """Scale so the shorter side is ``resize_size`` (bilinear, antialiased), then crop the center."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    scale = resize_size / min(w, h)
    nw, nh = max(crop_size, round(w * scale)), max(crop_size, round(h * scale))
    if nw * nh > _MAX_RESIZED_CROPS * crop_size * crop_size:
        # keep only the source pixels the center crop will use (+ a margin for the filter)
        kw, kh = (min(side, math.ceil(crop_size / scale) + 4) for side in (w, h))
        left, top = (w - kw) // 2, (h - kh) // 2
        img = img.crop((left, top, left + kw, top + kh))
        w, h = kw, kh
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
    scale, offset = _affine(tuple(spec.mean), tuple(spec.std))
    # transpose the uint8 first (3x less memory to move), then one multiply-add in place
    x = np.ascontiguousarray(pixels.transpose(2, 0, 1)).astype(np.float32)
    x *= scale
    x += offset
    return x


@functools.lru_cache(maxsize=16)
def _affine(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, offset) with x = p * scale + offset == (p/255 - mean) / std.

    Computed in float64: for the TFLite models this gives scale 1/128 and offset -1 exactly, so
    (p - 128) / 128 comes out bit-exact, which the quantized stem relies on to recover the integer
    pixel LiteRT sees.
    """
    mean255 = np.asarray(mean, np.float64) * 255.0
    std255 = np.asarray(std, np.float64) * 255.0
    scale = 1.0 / std255
    offset = -mean255 / std255
    return scale.astype(np.float32)[:, None, None], offset.astype(np.float32)[:, None, None]


def preprocess(img: Image.Image, spec: BackboneSpec) -> np.ndarray:
    """PIL image -> (3, input_size, input_size) float32, ready for the backbone."""
    return normalize(crop_uint8(img, spec), spec)


def preprocess_batch(images: list[Image.Image], spec: BackboneSpec) -> np.ndarray:
    if not images:
        return np.zeros((0, 3, spec.input_size, spec.input_size), np.float32)
    return np.stack([preprocess(im, spec) for im in images])
