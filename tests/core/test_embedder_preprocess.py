"""Preprocessing: shorter side to 256, center crop 224, the TFLite input normalization."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.backbones import get_backbone
from core.preprocess import crop_uint8, normalize, preprocess, preprocess_batch, resize_center_crop


def test_resize_shorter_side_then_center_crop():
    # a wide image: a red bar in the middle third survives the crop, the green borders do not
    arr = np.zeros((300, 900, 3), np.uint8)
    arr[:, :300] = (0, 255, 0)
    arr[:, 600:] = (0, 255, 0)
    arr[:, 300:600] = (255, 0, 0)
    out = resize_center_crop(Image.fromarray(arr), 256, 224)
    assert out.size == (224, 224)
    px = np.asarray(out)
    # 900x300 -> 768x256; the crop spans x 272..496 of 768, i.e. inside the red third (256..512)
    assert (px[..., 0] > 200).all() and (px[..., 1] < 50).all()


def test_aspect_ratio_kept_for_tall_images():
    img = Image.new("RGB", (100, 400), (10, 20, 30))
    assert resize_center_crop(img, 256, 224).size == (224, 224)
    small = Image.new("L", (30, 20), 200)  # grayscale and tiny: upscaled, converted to RGB
    out = resize_center_crop(small, 256, 224)
    assert out.size == (224, 224) and out.mode == "RGB"


def test_tflite_normalization_is_exact():
    spec = get_backbone("mobilenet_v2_imagenet")
    pixels = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    x = normalize(pixels, spec)
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    expected = (pixels.astype(np.float32).transpose(2, 0, 1) - 128) / 128
    assert np.array_equal(x, expected)  # bit-exact: p = 128 -> 0, 0 -> -1, 255 -> 127/128
    assert x.min() == -1.0 and x.max() == 127 / 128


def test_imagenet_normalization():
    from core.backbones import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec

    spec = BackboneSpec(id="x", title="x", embed_dim=1, license="", source="", mean=IMAGENET_MEAN, std=IMAGENET_STD)
    pixels = np.full((2, 2, 3), 255, np.uint8)
    x = normalize(pixels, spec)
    np.testing.assert_allclose(x[:, 0, 0], (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD), rtol=1e-6)


def test_preprocess_end_to_end(data_dir):
    spec = get_backbone("mobilenet_v2_imagenet")
    img = Image.open(data_dir / "coral" / "images" / "parrot.jpg")
    x = preprocess(img, spec)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert np.array_equal(x, normalize(crop_uint8(img, spec), spec))
    batch = preprocess_batch([img, img.convert("L")], spec)
    assert batch.shape == (2, 3, 224, 224)
    assert preprocess_batch([], spec).shape == (0, 3, 224, 224)
