"""Datasets for episodic meta-training, held in memory as small uint8 arrays.

Two layouts are read, from a folder or a ``.zip`` of it:

* **Omniglot**: ``[<set>/]<Alphabet>/characterNN/*.png``; every character is a class, grouped by
  alphabet (so episodes can be drawn within one alphabet, as in Lake's benchmark).  Several
  sources (``small1`` + ``small2``) are merged and duplicate characters (Greek and Latin are in
  both small sets) are dropped by their (alphabet, character) key.
* **Folder per class**: ``<class>/*.jpg`` (any image type ``core.images`` reads).

Omniglot glyphs become *ink maps* (stroke = 1, paper = 0), resized with area averaging.  Images are
stored at ``store_size`` (twice the training size by default) so that augmentation (affine warps,
stroke thickening/thinning) runs at a finer grid before the average-pool down to the input size.
Rotations by 90/180/270 degrees can be added as extra classes (Santoro et al. 2016).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import FewLensError, ImageError

_IMG_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class MetaDataset:
    """Images (C classes x n_i samples) as uint8 arrays, plus a group id per class (alphabet)."""

    images: list[np.ndarray]  # per class: (n_i, ch, S, S) uint8
    class_names: list[str]
    groups: list[str]  # per class: alphabet (Omniglot) or "" (folders)
    channels: int = 1
    store_size: int = 56
    input_size: int = 28
    kind: str = "omniglot"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: Iterable[int]) -> "MetaDataset":
        idx = list(idx)
        return MetaDataset(
            [self.images[i] for i in idx],
            [self.class_names[i] for i in idx],
            [self.groups[i] for i in idx],
            self.channels,
            self.store_size,
            self.input_size,
            self.kind,
            dict(self.meta),
        )

    def split_by_group(self, held_out: Sequence[str]) -> tuple["MetaDataset", "MetaDataset"]:
        """(train, val): classes whose group is in ``held_out`` go to val (e.g. whole alphabets)."""
        held = set(held_out)
        missing = held - set(self.groups)
        if missing:
            raise FewLensError(f"validation groups not in the dataset: {', '.join(sorted(missing))}")
        tr = [i for i, g in enumerate(self.groups) if g not in held]
        va = [i for i, g in enumerate(self.groups) if g in held]
        return self.subset(tr), self.subset(va)

    def with_rotations(self) -> "MetaDataset":
        """Add each class rotated by 90, 180 and 270 degrees as three new classes (same group)."""
        imgs, names, groups = list(self.images), list(self.class_names), list(self.groups)
        for k in (1, 2, 3):
            for a, n, g in zip(self.images, self.class_names, self.groups):
                imgs.append(np.ascontiguousarray(np.rot90(a, k, axes=(2, 3))))
                names.append(f"{n}@rot{90 * k}")
                groups.append(g)
        return MetaDataset(imgs, names, groups, self.channels, self.store_size, self.input_size, self.kind,
                           dict(self.meta, rotations=True))


# --- decoding ---------------------------------------------------------------------------------

def glyph_to_ink(img: Image.Image, size: int) -> np.ndarray:
    """A black-on-white glyph -> (size, size) uint8 ink map (255 = stroke), area-resampled."""
    g = img.convert("L")
    if g.size != (size, size):
        g = g.resize((size, size), Image.Resampling.BOX if size < g.size[0] else Image.Resampling.BILINEAR)
    return (255 - np.asarray(g, dtype=np.uint8)).astype(np.uint8)


def load_glyph(path_or_bytes, size: int, name: str = "") -> np.ndarray:
    """Decode a glyph file (path or bytes) to an ink map; ImageError names the file."""
    try:
        src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
        with Image.open(src) as im:
            return glyph_to_ink(im, size)
    except (OSError, ValueError) as e:
        raise ImageError(name or str(path_or_bytes), f"cannot decode glyph ({e})") from e


class _Tree:
    """Uniform read access to a folder or a zip archive of one."""

    def __init__(self, root: Path):
        self.root = root
        self.zip = None
        if root.is_file():
            try:
                self.zip = zipfile.ZipFile(root)
            except zipfile.BadZipFile as e:
                raise FewLensError(f"{root}: not a zip archive ({e})") from e
        elif not root.is_dir():
            raise FewLensError(f"{root}: no such dataset folder or zip")

    def files(self) -> list[PurePosixPath]:
        if self.zip is not None:
            return sorted(PurePosixPath(n) for n in self.zip.namelist() if not n.endswith("/"))
        return sorted(PurePosixPath(p.relative_to(self.root).as_posix()) for p in self.root.rglob("*") if p.is_file())

    def read(self, rel: PurePosixPath) -> bytes:
        if self.zip is not None:
            return self.zip.read(str(rel))
        return (self.root / rel).read_bytes()


def _image_files(tree: _Tree) -> list[PurePosixPath]:
    return [f for f in tree.files() if f.suffix.lower() in _IMG_SUFFIXES and not f.name.startswith(".")]


def load_omniglot(sources: Sequence[str | Path], input_size: int = 28, store_scale: int = 2) -> MetaDataset:
    """Read one or more Omniglot-layout sources (zip or folder) into one deduplicated dataset.

    Classes are keyed by (alphabet, character); a character seen in an earlier source is skipped.
    """
    store = input_size * store_scale
    by_key: dict[tuple[str, str], list[PurePosixPath]] = {}
    trees: dict[tuple[str, str], _Tree] = {}
    for src in sources:
        tree = _Tree(Path(src))
        per_key: dict[tuple[str, str], list[PurePosixPath]] = {}
        for f in _image_files(tree):
            if len(f.parts) < 3:
                continue  # a file above the Alphabet/character/ level
            key = (f.parts[-3], f.parts[-2])
            per_key.setdefault(key, []).append(f)
        if not per_key:
            raise FewLensError(f"{src}: no Omniglot layout (<Alphabet>/<character>/<image>.png) found")
        for key, files in per_key.items():
            if key not in by_key:
                by_key[key] = files
                trees[key] = tree
    images, names, groups = [], [], []
    for key in sorted(by_key):
        tree = trees[key]
        arr = np.stack([load_glyph(tree.read(f), store, name=f"{tree.root}:{f}") for f in by_key[key]])
        images.append(arr[:, None])
        names.append(f"{key[0]}/{key[1]}")
        groups.append(key[0])
    return MetaDataset(images, names, groups, 1, store, input_size, "omniglot",
                       {"sources": [str(s) for s in sources]})


def load_image_folder(root: str | Path, input_size: int = 84, store_scale: int = 1, min_per_class: int = 2) -> MetaDataset:
    """Folder-per-class RGB dataset (resized, center-cropped squares)."""
    from ..images import load_image

    store = input_size * store_scale
    root = Path(root)
    if not root.is_dir():
        raise FewLensError(f"{root}: no such dataset folder")
    images, names = [], []
    for cdir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in cdir.iterdir() if p.suffix.lower() in _IMG_SUFFIXES)
        arrs = []
        for f in files:
            im = load_image(f, min_side=store)
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((store, store), Image.Resampling.BILINEAR)
            arrs.append(np.asarray(im, np.uint8).transpose(2, 0, 1))
        if len(arrs) >= min_per_class:
            images.append(np.stack(arrs))
            names.append(cdir.name)
    if len(images) < 2:
        raise FewLensError(f"{root}: need at least 2 class folders with {min_per_class}+ images each")
    return MetaDataset(images, names, [""] * len(names), 3, store, input_size, "folder", {"sources": [str(root)]})


def is_omniglot_layout(path: str | Path) -> bool:
    """True when the images sit three levels deep (<Alphabet>/<character>/<file>) or in a zip."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() == ".zip"
    for f in p.rglob("*.png"):
        rel = f.relative_to(p).parts
        return len(rel) >= 3
    return False


def load_dataset(sources: Sequence[str | Path], input_size: int, store_scale: int = 2) -> MetaDataset:
    """Omniglot layout (zip or nested folders) or a folder-per-class dataset, detected from the layout."""
    if all(is_omniglot_layout(s) for s in sources):
        return load_omniglot(sources, input_size, store_scale)
    if len(sources) != 1:
        raise FewLensError("folder-per-class datasets are read from one folder at a time")
    return load_image_folder(sources[0], input_size, 1)
