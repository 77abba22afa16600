"""core.images: every format and colour mode in, RGB out; every bad file out as an ImageError naming it."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import images
from core.errors import ImageError
from core.images import file_hash, find_images, image_size, load_image, read_and_hash


def _rgb_pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


def _photo_like(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    noisy = base + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize("ext,fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".bmp", "BMP"), (".webp", "WEBP"),
                                     (".tif", "TIFF"), (".gif", "GIF")])
def test_every_supported_format_loads_as_rgb(tmp_path, ext, fmt):
    src = _photo_like(64, 48)
    p = tmp_path / f"img{ext}"
    src.save(p, format=fmt)
    img = load_image(p)
    assert img.mode == "RGB" and img.size == (64, 48)
    # lossless formats come back exact, lossy ones close
    diff = np.abs(_rgb_pixels(img).astype(int) - np.asarray(src).astype(int)).mean()
    assert diff < (25 if fmt in ("JPEG", "WEBP", "GIF") else 0.5)


def test_bundled_test_photos_all_load():
    for f in find_images(Path(__file__).parents[1] / "data" / "coral"):
        img = load_image(f)
        assert img.mode == "RGB" and min(img.size) > 100


def test_gif_takes_the_first_frame(tmp_path):
    p = tmp_path / "anim.gif"
    red, blue = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    red.save(p, save_all=True, append_images=[blue], duration=100, loop=0)
    px = _rgb_pixels(load_image(p))[8, 8]
    assert px[0] > 200 and px[2] < 50


def test_exif_orientation_is_applied(tmp_path):
    src = Image.new("RGB", (40, 20), (0, 0, 0))
    src.paste((255, 255, 255), (0, 0, 10, 20))  # white strip on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rotated.jpg"
    src.save(p, exif=exif, quality=95)
    img = load_image(p)
    assert img.size == (20, 40)
    assert image_size(p) == (20, 40)
    # after a 90 degree clockwise turn the left strip is along the top
    a = _rgb_pixels(img).mean(2)
    assert a[:5].mean() > 200 and a[-5:].mean() < 50


# --------------------------------------------------------------------------- colour modes
def test_grayscale_and_bilevel_become_rgb(tmp_path):
    p = tmp_path / "gray.png"
    Image.new("L", (8, 8), 77).save(p)
    assert tuple(_rgb_pixels(load_image(p))[0, 0]) == (77, 77, 77)
    p1 = tmp_path / "bw.tif"
    Image.new("1", (8, 8), 1).save(p1)
    assert tuple(_rgb_pixels(load_image(p1))[0, 0]) == (255, 255, 255)


def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((8, 8, 4), np.uint8)
    a[:, :4] = (255, 0, 0, 255)  # opaque red on the left, fully transparent on the right
    p = tmp_path / "alpha.png"
    Image.fromarray(a, "RGBA").save(p)
    px = _rgb_pixels(load_image(p))
    assert tuple(px[0, 0]) == (255, 0, 0)
    assert tuple(px[0, 7]) == (255, 255, 255)  # not black


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    p = tmp_path / "pal.gif"
    img.save(p, transparency=0)
    px = _rgb_pixels(load_image(p))
    assert tuple(px[0, 0]) == (0, 128, 0)
    assert tuple(px[0, 7]) == (255, 255, 255)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16)[None].repeat(4, 0)
    p = tmp_path / "deep.png"
    Image.fromarray(ramp).save(p)  # mode I;16
    px = _rgb_pixels(load_image(p))[0, :, 0].astype(int)
    assert px[0] == 0 and px[-1] == 255
    assert abs(px[128] - 128) <= 2  # mid-grey stays mid-grey (clipping would give 255)
    assert np.all(np.diff(px) >= 0)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(p, quality=95)  # pure cyan ink
    r, g, b = _rgb_pixels(load_image(p))[8, 8]
    assert r < 40 and g > 215 and b > 215


# --------------------------------------------------------------------------- reduced-scale decoding
def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    p = tmp_path / "big.jpg"
    _photo_like(400, 300).resize((4000, 3000)).save(p, quality=90)  # upscaled: cheap to make
    small = load_image(p, min_side=256)
    assert small.size == (500, 375)  # DCT-scaled 1/8, shorter side still >= 256
    assert min(load_image(p, min_side=400).size) >= 400
    assert load_image(p, min_side=None).size == (4000, 3000)


def test_reduced_scale_respects_min_side_after_rotation(tmp_path):
    p = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8
    _photo_like(2400, 1300).save(p, exif=exif, quality=85)
    img = load_image(p, min_side=256)
    w, h = img.size
    assert h > w and min(w, h) >= 256 and max(w, h) <= 1200


# --------------------------------------------------------------------------- bad input: message names the file
def _expect(path, reason_part, **kw):
    with pytest.raises(ImageError) as ei:
        load_image(path, **kw)
    msg = str(ei.value)
    assert str(path) in msg, msg
    assert reason_part in msg, msg
    assert ei.value.path == str(path)
    return msg


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.jpg", "file not found")


def test_directory(tmp_path):
    d = tmp_path / "folder.jpg"
    d.mkdir()
    _expect(d, "is a directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.touch()
    _expect(p, "empty file")


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("shopping list: eggs, milk\n" * 20)
    _expect(p, "not an image")


def test_unsupported_format_is_not_decoded(tmp_path):
    # a real image, but in a format we do not hand to PIL (PPM)
    p = tmp_path / "img.ppm"
    Image.new("RGB", (8, 8)).save(p)
    _expect(p, "not an image")


def test_truncated_jpeg(tmp_path):
    p = tmp_path / "cut.jpg"
    _photo_like(320, 240).save(p, quality=90)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _expect(p, "truncated / corrupt image data")


def test_corrupt_png(tmp_path):
    p = tmp_path / "bad.png"
    _photo_like(64, 64).save(p)
    data = bytearray(p.read_bytes())
    data[60:200] = bytes(140)  # zero out the start of the compressed pixel data
    p.write_bytes(bytes(data))
    _expect(p, "truncated / corrupt image data")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_permission_denied(tmp_path):
    p = tmp_path / "secret.jpg"
    _photo_like(16, 16).save(p)
    p.chmod(0)
    try:
        _expect(p, "permission denied")
        with pytest.raises(ImageError, match="permission denied"):
            file_hash(p)
    finally:
        p.chmod(0o644)


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A tiny PNG whose header claims w x h pixels: a decompression-bomb stand-in."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# pytest re-enables warnings per test; in the app core.images silences PIL's own bomb warning
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [13_000, 40_000])  # below and above PIL's own hard limit
def test_decompression_bomb_is_refused_with_a_clear_message(tmp_path, side):
    p = tmp_path / "bomb.png"
    _png_header_only(p, side, side)
    msg = _expect(p, "image too large")
    assert f"{side * side / 1e6:.0f} megapixels" in msg


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    p = tmp_path / "ok.png"
    _photo_like(200, 100).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    _expect(p, "image too large")


# --------------------------------------------------------------------------- hashing and finding
def test_file_hash_is_content_hash(tmp_path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    _photo_like(32, 32, seed=1).save(a)
    b.write_bytes(a.read_bytes())
    _photo_like(32, 32, seed=2).save(c)
    assert file_hash(a) == file_hash(b) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert file_hash(a) != file_hash(c)
    data, h = read_and_hash(a)
    assert data == a.read_bytes() and h == file_hash(a)
    assert load_image(a, data=data).size == (32, 32)
    with pytest.raises(ImageError, match="file not found"):
        file_hash(tmp_path / "gone.jpg")


def test_find_images_expands_folders(tmp_path):
    (tmp_path / "sub" / ".thumbs").mkdir(parents=True)
    for name in ["a.JPG", "b.png", "sub/c.webp", "sub/.thumbs/d.jpg", ".hidden.jpg", "readme.txt"]:
        (tmp_path / name).write_bytes(b"x")
    extra = tmp_path / "explicit.dat"
    extra.write_bytes(b"x")
    got = find_images([tmp_path, extra])
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["a.JPG", "b.png", "explicit.dat", "sub/c.webp"]
    assert [p.name for p in find_images(tmp_path, recursive=False)] == ["a.JPG", "b.png"]
    with pytest.raises(ImageError, match="file not found") as ei:
        find_images([tmp_path / "missing"])
    assert "missing" in str(ei.value)


def test_permission_denied_reported_even_when_running_as_root(tmp_path, monkeypatch):
    # CI containers often run as root, where chmod 0 does not stop reads: simulate the OS refusal
    p = tmp_path / "locked.png"
    _photo_like(16, 16).save(p)

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(images.Image, "open", refuse)
    _expect(p, "permission denied")


@pytest.mark.parametrize("magic", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 "])
def test_damaged_header_is_corrupt_not_a_non_image(tmp_path, magic):
    p = tmp_path / "damaged.img"
    p.write_bytes(magic + b"\x00garbage" * 4)
    _expect(p, "truncated / corrupt image data")


def test_large_non_jpeg_is_reduced_but_never_below_min_side(tmp_path):
    p = tmp_path / "scan.png"
    _photo_like(300, 200).resize((2400, 1100)).save(p, compress_level=1)
    img = load_image(p, min_side=256)
    assert img.size == (600, 275)  # integer factor 4: shorter side in [256, 512)
    assert load_image(p, min_side=None).size == (2400, 1100)
    small = tmp_path / "small.png"
    _photo_like(500, 300).save(small)
    assert load_image(small, min_side=256).size == (500, 300)  # factor 1: untouched
