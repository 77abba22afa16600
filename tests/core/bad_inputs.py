"""The bad-input corpus, generated (nothing binary is checked in): each case with the outcome a
user must see.  ``reason`` None means the image must simply work; otherwise one line naming the
file must carry ``reason``.  Used by tests/core/test_bad_input_corpus.py through every entry point.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CLOTHING = Path(__file__).parents[1] / "data" / "clothing_mini"


@dataclass(frozen=True)
class Case:
    name: str  # file name in the corpus folder
    what: str  # the kind of damage, for RELIABILITY.md
    reason: str | None  # expected message fragment; None: must work
    stage: str = "decode"  # "read": fails before decoding (hashing, project create without --embed)


def _photo(size=(320, 240)) -> Image.Image:
    src = sorted((CLOTHING / "Hat").iterdir())[0]
    return Image.open(src).convert("RGB").resize(size)


def _jpeg(img: Image.Image, **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, "JPEG", quality=90, **kw)
    return b.getvalue()


def _png(img: Image.Image) -> bytes:
    b = io.BytesIO()
    img.save(b, "PNG")
    return b.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(w: int, h: int) -> bytes:
    """A tiny PNG that claims w x h pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")


CASES = [
    Case("zero_bytes.jpg", "zero-byte file", "empty file", "read"),
    Case("truncated.jpg", "JPEG cut in half", "truncated / corrupt image data"),
    Case("png_named.jpg", "PNG with a .jpg extension", None),
    Case("text.jpg", "text file with an image extension", "not an image"),
    Case("bad_crc.png", "PNG with a corrupt IHDR CRC", "truncated / corrupt image data"),
    Case("bomb.png", "decompression bomb (30000x30000 claimed in 100 bytes)", "image too large"),
    Case("extreme_aspect.png", "60000x2 pixels", "extreme aspect ratio"),
    Case("gray16.png", "16-bit grayscale PNG", None),
    Case("cmyk.jpg", "CMYK JPEG", None),
    Case("alpha.png", "RGBA PNG with transparency", None),
    Case("animated.gif", "3-frame animated GIF", None),
    Case("exif_rotated.jpg", "JPEG with EXIF orientation 6", None),
    Case("naïve 图片 ☃.jpg", "unicode file name", None),
    Case("dangling.jpg", "symbolic link to a missing file", "broken symbolic link", "read"),
    Case("self_loop.jpg", "symbolic link to itself", "symbolic link loop", "read"),
    Case("fifo.jpg", "a named pipe named like an image (would block a reader)", "not a regular file", "read"),
]
if os.geteuid() != 0:  # root reads a chmod 000 file anyway
    CASES.append(Case("unreadable.jpg", "file without read permission", "permission denied", "read"))

#: the folder-level case: a directory link back into the corpus must not import anything twice
LOOP_DIR = "loop_dir"


def make_corpus(root: Path) -> list[Case]:
    """Write every case into ``root`` (plus ``loop_dir -> .``); returns the cases written."""
    root.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    jpeg = _jpeg(photo)
    writers = {
        "zero_bytes.jpg": lambda p: p.write_bytes(b""),
        "truncated.jpg": lambda p: p.write_bytes(jpeg[: len(jpeg) // 2]),
        "png_named.jpg": lambda p: p.write_bytes(_png(photo)),
        "text.jpg": lambda p: p.write_text("these are my holiday notes, not a photo\n"),
        "bad_crc.png": lambda p: p.write_bytes(_corrupt_crc(_png(photo))),
        "bomb.png": lambda p: p.write_bytes(_png_bomb(30000, 30000)),
        "extreme_aspect.png": lambda p: Image.new("RGB", (60000, 2), (200, 30, 30)).save(p, optimize=True),
        "gray16.png": lambda p: Image.fromarray(
            (__import__("numpy").asarray(photo.convert("L"), dtype="uint16") * 257)).save(p),
        "cmyk.jpg": lambda p: photo.convert("CMYK").save(p, "JPEG"),
        "alpha.png": lambda p: _with_alpha(photo).save(p),
        "animated.gif": lambda p: photo.save(p, save_all=True, append_images=[photo.rotate(90), photo.rotate(180)],
                                             duration=100, loop=0),
        "exif_rotated.jpg": lambda p: p.write_bytes(_jpeg(photo, exif=_exif_orientation(6))),
        "naïve 图片 ☃.jpg": lambda p: p.write_bytes(jpeg),
        "dangling.jpg": lambda p: p.symlink_to(root / "no_such_file.jpg"),
        "self_loop.jpg": lambda p: p.symlink_to(p.name),
        "fifo.jpg": lambda p: os.mkfifo(p),
        "unreadable.jpg": lambda p: (p.write_bytes(jpeg), p.chmod(0)),
    }
    for case in CASES:
        writers[case.name](root / case.name)
    (root / LOOP_DIR).symlink_to(".")
    return list(CASES)


def _corrupt_crc(png: bytes) -> bytes:
    b = bytearray(png)
    b[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(b)


def _with_alpha(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(img.size))
    return rgba


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def files_given_explicitly(root: Path) -> list[Path]:
    """What a user passes on a command line or drops as files (folders excluded)."""
    return [root / c.name for c in CASES]
