"""Embeddings of a folder-per-class dataset for the accuracy bench, computed once and cached.

``crop`` is exactly what the app computes (core.pipeline.embed_files, the shared
EmbeddingCache).  The other views exist only for measuring levers and are kept
in ``cache_dir()/bench/`` as .npz files keyed by backbone fingerprint and view:

* ``squash``: the whole photo resized to 224x224 (aspect ratio not kept), the
  preprocessing the resize-256 + center-crop-224 default is compared against.
* ``flip``: the app's crop, mirrored left-right (test-time augmentation).
* ``head``: the backbone's own classifier logits on the app's crop (ImageNet
  classes), to measure "what the backbone sees" as extra features.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.embedder import Embedder  # noqa: E402
from core.embedding_cache import EmbeddingCache  # noqa: E402
from core.episodes import FolderDataset  # noqa: E402
from core.images import load_image  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.pipeline import backbone_fingerprint, embed_files  # noqa: E402
from core.preprocess import crop_uint8, normalize  # noqa: E402

VIEWS = ("crop", "squash", "flip", "head")


def _squash_uint8(img: Image.Image, size: int) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None), np.uint8)


def _view_pixels(img: Image.Image, spec, view: str) -> np.ndarray:
    if view == "squash":
        return _squash_uint8(img, spec.input_size)
    pixels = crop_uint8(img, spec)
    return np.ascontiguousarray(pixels[:, ::-1]) if view == "flip" else pixels


def _embed_view(paths: list[Path], embedder: Embedder, view: str, batch: int = 32) -> np.ndarray:
    spec = embedder.spec
    out = []
    for i in range(0, len(paths), batch):
        # decode at full size for squash (no DCT shortcut that assumes the shorter side is kept)
        imgs = [load_image(p, min_side=None if view == "squash" else spec.resize_size) for p in paths[i : i + batch]]
        x = np.stack([normalize(_view_pixels(im, spec, view), spec) for im in imgs])
        out.append(embedder.logits_batch(x) if view == "head" else embedder.embed_batch(x))
    return np.concatenate(out)


def dataset_features(root: os.PathLike | str, backbone: str = "mobilenet_v2_imagenet", view: str = "crop",
                     quiet: bool = False) -> tuple[FolderDataset, np.ndarray]:
    """(dataset, (n, D) float32 features) of every image under ``root`` with ``backbone``, seen as ``view``."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    ds = FolderDataset.from_folder(root)
    embedder = Embedder(backbone, device="cpu")
    if view == "crop":
        cache = EmbeddingCache.default()
        try:
            res = embed_files(ds.paths, embedder, cache=cache)
        finally:
            cache.close()
        for err in res.errors:
            print(f"skipped: {err}", file=sys.stderr)
        return ds.with_embeddings(res.embeddings)
    key = hashlib.sha256(repr((backbone_fingerprint(embedder.spec), view, [str(p) for p in ds.paths])).encode())
    path = cache_dir() / "bench" / f"{backbone}-{view}-{key.hexdigest()[:16]}.npz"
    if path.exists():
        return ds, np.load(path)["features"]
    if not quiet:
        print(f"embedding {len(ds)} images of {root} with {backbone} ({view}) ...", file=sys.stderr)
    feats = _embed_view(ds.paths, embedder, view)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=feats)
    tmp.replace(path)
    return ds, feats
