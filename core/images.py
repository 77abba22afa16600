"""Images in: the one loader every path into the engine goes through.

``load_image`` turns any supported file into an 8-bit RGB ``PIL.Image`` the
way a user expects to see it (EXIF orientation applied, transparency on
white, 16-bit scaled rather than clipped), decoding big JPEGs at reduced
scale so a 12-megapixel photo costs about as much as a thumbnail.  Every
failure becomes :class:`core.errors.ImageError` naming the file and a reason
a person can act on.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from struct import error as struct_error

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Register exactly the decoders we use (``Image.open(formats=...)`` needs them loaded).
from PIL import (  # noqa: F401  isort: skip
    BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin,
)

from .errors import Cancelled, ImageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

# PIL decoders we allow.  Restricting them keeps e.g. EPS (which shells out to Ghostscript)
# out of the engine even when a file is misnamed.  The JPEG opener also yields MPO, the
# multi-picture JPEG some cameras write.
_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")

#: Pixel-count guard against decompression bombs (a few-KB PNG that claims 50k x 50k pixels).
#: 150 MP covers stitched panoramas and large scans; beyond it we refuse before allocating.
MAX_PIXELS = 150_000_000

# Files up to this size are read once into memory: hashed and decoded from the same bytes.
_READ_WHOLE_LIMIT = 64 * 1024 * 1024
_HASH_CHUNK = 1024 * 1024

# We apply our own guard (with a message that names the file), so PIL's warning is noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_WHITE = (255, 255, 255)


# --------------------------------------------------------------------------- finding files
def is_image_path(path: os.PathLike | str) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


#: Names a file manager leaves in photo folders; not worth reporting as "not an image".
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})


def _folder_files(folder: Path, tree: os.PathLike | str | None = None,
                  cancel: Callable[[], bool] | None = None) -> Iterator[Path]:
    """Every file under ``folder`` (:func:`core.walk.walk_files`) but OS clutter: the one folder
    walk of the CLI, the project and the GUI import."""
    from .walk import walk_files

    for f in walk_files(folder, tree=tree):
        if cancel is not None and cancel():
            raise Cancelled("import cancelled")
        if f.name.lower() not in IGNORED_NAMES:
            yield f


def find_images(
    paths: Iterable[os.PathLike | str] | os.PathLike | str,
    recursive: bool = True,
    errors: list[ImageError] | None = None,
    tree: os.PathLike | str | None = None,
) -> list[Path]:
    """Expand files and folders into a sorted, de-duplicated list of image files.

    Files given explicitly are kept whatever their extension (the loader will say
    if they are not images); folders contribute files with an image extension,
    skipping hidden files and folders (``.DS_Store``, ``.thumbnails``...), broken links,
    and directory links that lead back into the tree (see :mod:`core.walk`).
    A path that does not exist raises :class:`ImageError` ("file not found"), or, when
    ``errors`` is a list, is appended to it so the other paths still count.
    ``tree``: folder links into this tree are not followed (see :func:`core.walk.walk_files`).
    """
    from .walk import entry_is_file, link_problem

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            if recursive:
                files = _folder_files(p, tree=tree)
            else:
                try:
                    with os.scandir(p) as it:
                        files = [Path(e.path) for e in it if not e.name.startswith(".") and entry_is_file(e)]
                except OSError:
                    files = []
            found.update(f for f in files if is_image_path(f))
        elif p.exists():
            found.add(p)
        else:
            err = ImageError(p, link_problem(p) or "file not found")
            if errors is None:
                raise err
            errors.append(err)
    return sorted(found)


def scan_sources(sources: Sequence[Path], cancel: Callable[[], bool] | None = None) -> tuple[list[Path], list[ImageError]]:
    """Expand dropped files/folders: image files to import, and the other files as
    "not an image" reports (hidden files and OS clutter are skipped silently)."""
    images: list[Path] = []
    rejects: list[ImageError] = []
    seen: set[Path] = set()

    def consider(p: Path) -> None:
        if p in seen:
            return
        seen.add(p)
        if is_image_path(p):
            images.append(p)
        else:
            suffix = p.suffix or "no extension"
            rejects.append(ImageError(p, f"not an image file ({suffix}); skipped"))

    for src in map(Path, sources):
        if src.is_dir():
            # the CLI's walk: folder links followed once, never back into the tree (no duplicates)
            for f in _folder_files(src, cancel=cancel):
                consider(f)
        elif os.path.lexists(src):
            # An explicitly dropped file is tried whatever its name: the loader says if it is not an
            # image, or names what is wrong with it (a link loop, a pipe).
            if src not in seen:
                seen.add(src)
                images.append(src)
        else:
            from .walk import link_problem

            rejects.append(ImageError(src, link_problem(src) or "file not found"))
    return images, rejects


# --------------------------------------------------------------------------- hashing / reading
def _os_reason(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if err.errno == errno.ELOOP:
        return "symbolic link loop (the link points at itself)"
    return f"cannot read file ({err.strerror or err})"


def _check_file(path: Path) -> int:
    """Stat the file and turn the common problems into an ImageError; returns its size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        from .walk import link_problem

        raise ImageError(path, link_problem(path) or "file not found") from None
    except OSError as e:
        raise ImageError(path, _os_reason(e)) from None
    if path.is_dir():
        raise ImageError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device named *.jpg would block or never end
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file")
    return st.st_size


def file_hash(path: os.PathLike | str) -> str:
    """SHA-256 (hex) of the file's bytes, streamed.  The embedding cache key.

    SHA-256 uses the CPU's SHA extensions through OpenSSL (~1 GB/s here, faster than
    blake2b) and releases the GIL, so hashing overlaps decoding in the pipeline's threads.
    """
    path = Path(path)
    _check_file(path)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise ImageError(path, _os_reason(e)) from None
    return h.hexdigest()


def read_and_hash(path: os.PathLike | str) -> tuple[bytes | None, str]:
    """Read a file once for both hashing and decoding.

    Returns ``(data, sha256_hex)``; ``data`` is None for files too big to hold in
    memory, which are then decoded straight from disk.
    """
    path = Path(path)
    size = _check_file(path)
    if size > _READ_WHOLE_LIMIT:
        return None, file_hash(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError(path, _os_reason(e)) from None
    if not data:
        raise ImageError(path, "empty file")
    return data, hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- decoding
def load_image(path: os.PathLike | str, min_side: int | None = 256, *, data: bytes | None = None) -> Image.Image:
    """Decode ``path`` into an RGB image, EXIF-transposed.

    ``min_side``: the smallest shorter side the caller needs (the backbone's resize
    size).  JPEGs are DCT-scaled by 1/2, 1/4 or 1/8 at decode time while the shorter
    side stays >= ``min_side``, other formats box-reduced by an integer factor after
    decoding, so the shorter side ends in [min_side, 2 * min_side); ``None`` keeps the
    full resolution.
    ``data``: the file's bytes when the caller already read them (see
    :func:`read_and_hash`), so the file is not read twice.
    """
    path = Path(path)
    if data is None:
        _check_file(path)
        source: object = path
    else:
        if not data:
            raise ImageError(path, "empty file")
        source = io.BytesIO(data)
    try:
        img = _open(path, source)
        with img:
            _guard_pixels(path, img.size)
            if min_side and img.format in ("JPEG", "MPO"):
                # draft() picks the largest power-of-two scale that keeps both sides >= the
                # requested size, so asking for a square keeps the shorter side >= min_side.
                img.draft("RGB", (min_side, min_side))
            if min_side:
                _guard_resized(path, img.size, min_side)
            img.load()
            rgb = _to_rgb(path, _transpose(img))
            if min_side:
                # Formats without DCT scaling (PNG, TIFF, WebP...) and JPEGs beyond draft's 1/8:
                # an integer box reduction, cheap in C, still leaving the shorter side >= min_side.
                # Keeps memory and the later resize small for 24-100 MP scans and panoramas.
                factor = min(rgb.size) // min_side
                if factor >= 2:
                    rgb = rgb.reduce(factor)
            # _to_rgb may return the same object; detach it from the file before closing
            if rgb is img:
                rgb = img.copy()
        return rgb
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(path, _too_large_reason(str(e))) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error, MemoryError) as e:
        # PIL reports truncation / bad markers / bad headers through this mixed bag
        if isinstance(e, (PermissionError, FileNotFoundError, IsADirectoryError)):
            raise ImageError(path, _os_reason(e)) from None
        if isinstance(e, MemoryError):
            raise ImageError(path, "image too large (out of memory while decoding)") from None
        raise ImageError(path, "truncated / corrupt image data") from None


# File signatures of the formats we read: a file that starts like one but does not parse is
# a damaged image, not "not an image".
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def _looks_like_image(head: bytes) -> bool:
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _open(path: Path, source) -> Image.Image:
    try:
        return Image.open(source, formats=_FORMATS)
    except UnidentifiedImageError:
        try:
            if isinstance(source, io.BytesIO):
                head = source.getvalue()[:16]
            else:
                with open(path, "rb") as f:
                    head = f.read(16)
        except OSError:
            head = b""
        if _looks_like_image(head):
            raise ImageError(path, "truncated / corrupt image data") from None
        raise ImageError(path, "not an image (or an unsupported format)") from None
    except OSError as e:
        if isinstance(e, (PermissionError, FileNotFoundError, IsADirectoryError)):
            raise ImageError(path, _os_reason(e)) from None
        raise


def _guard_pixels(path: Path, size: tuple[int, int]) -> None:
    pixels = max(1, size[0]) * max(1, size[1])
    if pixels > MAX_PIXELS:
        raise ImageError(path, f"image too large ({pixels / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f})")


#: The pixel guard again, on the size the image will have once its shorter side is scaled to
#: ``min_side``: a few-hundred-byte 60000x2 PNG passes MAX_PIXELS but would need gigabytes there.
MAX_RESIZED_PIXELS = 40_000_000


def _guard_resized(path: Path, size: tuple[int, int], min_side: int) -> None:
    w, h = max(1, size[0]), max(1, size[1])
    short = min(w, h)
    if short >= min_side:
        return
    scale = min_side / short
    if w * h * scale * scale > MAX_RESIZED_PIXELS:
        raise ImageError(path, f"extreme aspect ratio ({w}x{h} pixels): too thin to recognise")


def _too_large_reason(pil_message: str) -> str:
    m = re.search(r"\((\d+) pixels\)", pil_message)
    if m:
        return f"image too large ({int(m.group(1)) / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f})"
    return "image too large"


def _transpose(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation; a broken EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF in the wild is common; the pixels are still good
        return img


def _to_rgb(path: Path, img: Image.Image) -> Image.Image:
    """Every PIL mode we can meet, to 8-bit RGB."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        # palette with a transparent index: composite like any other alpha image
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, _WHITE)
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if mode in ("1", "L", "CMYK", "YCbCr", "RGBX"):
        return img.convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(img)
    try:
        return img.convert("RGB")
    except (ValueError, OSError):
        raise ImageError(path, f"unsupported colour mode {mode}") from None


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit / 32-bit grayscale to 8 bits by scaling the range, never by clipping.

    ``Image.convert("L")`` clips 16-bit values at 255, turning most of a 16-bit scan
    white; instead divide by the full scale of the declared bit depth (or by the
    data's own range for float and 32-bit data that exceed it).
    """
    a = np.asarray(img)
    if img.mode == "F":
        a = a.astype(np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if lo >= 0.0 and hi <= 1.0:
            scaled = a * 255.0
        else:
            scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    else:
        a = a.astype(np.float64)
        hi = float(a.max()) if a.size else 0.0
        full = 65535.0 if hi <= 65535 else hi  # "I" from 16-bit PNG/TIFF holds 0..65535
        scaled = a * (255.0 / full) if a.min() >= 0 else (a - a.min()) * (255.0 / max(1.0, hi - a.min()))
    gray = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    return gray.convert("RGB")


def image_size(path: os.PathLike | str) -> tuple[int, int]:
    """Width and height after EXIF orientation, read from the header only (cheap)."""
    path = Path(path)
    _check_file(path)
    try:
        with _open(path, path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except ImageError:
        raise
    except Exception:
        raise ImageError(path, "truncated / corrupt image data") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_RESIZED_PIXELS",
    "file_hash",
    "find_images",
    "image_size",
    "is_image_path",
    "load_image",
    "read_and_hash",
]
