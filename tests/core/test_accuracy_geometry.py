"""The input geometries of the resolution lever (bench/experiments/accuracy_resolution.py).

The bench's baseline geometry must be exactly the app's input, or every comparison in
bench/results/accuracy.md's third round would compare against the wrong thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "experiments"))

from accuracy_resolution import geometry_pixels  # noqa: E402

from core.backbones import get_backbone  # noqa: E402
from core.preprocess import crop_uint8  # noqa: E402


def _portrait() -> Image.Image:
    # a 192x256 product photo (clothing17's usual size) with a red top row and a blue bottom row
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)
    arr[:8] = (255, 0, 0)
    arr[-8:] = (0, 0, 255)
    return Image.fromarray(arr)


def test_baseline_geometry_is_the_apps_crop():
    img = _portrait()
    spec = get_backbone("mobilenet_v2_imagenet")
    assert np.array_equal(geometry_pixels(img, f"crop:{spec.resize_size}:{spec.input_size}"), crop_uint8(img, spec))


def test_center_crop_of_a_portrait_loses_top_and_bottom_but_full_keeps_them():
    img = _portrait()
    crop = geometry_pixels(img, "crop:256:224")
    assert crop.shape == (224, 224, 3)
    assert not (crop[0, :, 0] > 200).all() and not (crop[-1, :, 2] > 200).all()
    full = geometry_pixels(img, "full:224")
    assert full.shape == (299, 224, 3)  # shorter side 224, aspect 4:3 kept
    assert (full[0, :, 0] > 200).all() and (full[-1, :, 2] > 200).all()


def test_long_side_fits_the_box():
    wide = Image.new("RGB", (300, 100), (10, 20, 30))
    assert geometry_pixels(wide, "long:256").shape == (85, 256, 3)
    assert geometry_pixels(wide.convert("L"), "full:224").shape == (224, 672, 3)


def test_unknown_geometry_is_refused():
    with pytest.raises(ValueError, match="unknown geometry"):
        geometry_pixels(Image.new("RGB", (10, 10)), "squash:224")
