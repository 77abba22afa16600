"""Arguments and helpers shared by the commands that embed, fit and predict.

Below every command module, so that commands borrow from here rather than from each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import ImageError

DEFAULT_DEVICE = "auto"


def add_model_arguments(p) -> None:
    """--backbone / --method / --device, shared by the commands that embed and predict."""
    from ..backbones import DEFAULT_BACKBONE
    from ..methods import DEFAULT_METHOD

    p.add_argument("--backbone", default=DEFAULT_BACKBONE, help=f"feature extractor (default {DEFAULT_BACKBONE})")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"few-shot method (default {DEFAULT_METHOD})")
    p.add_argument("--device", default=DEFAULT_DEVICE, choices=["auto", "cpu", "cuda"])
    from .backbone_args import add_input_arguments

    add_input_arguments(p)


def add_adapt_argument(p) -> None:
    """--adapt, shared by the commands that fit on labeled images."""
    from ..adaptation import MIN_SHOTS

    p.add_argument("--adapt", default="auto", choices=["auto", "on", "off"],
                   help="fine-tune the backbone's last stage on the labeled images before predicting "
                   f"(default auto: when every class has {MIN_SHOTS}+ labels and the backbone is a MobileNetV2, "
                   "an EfficientNet-Lite or the ensemble of MobileNetV2 and Lite2)")


def resolve_adapt(choice: str, backbone: str, enough_labels: bool) -> bool:
    """Whether --adapt CHOICE adapts this backbone; 'on' with a backbone that cannot adapt is an error."""
    from ..recognizer_build import decide_adapt

    return decide_adapt(choice, backbone, np.array([5, 5]) if enough_labels else np.array([0, 0]))


def support_classes(root: Path) -> dict[str, list[Path]]:
    """``root/<class>/**/<image>`` -> {class: [images]} (core.class_folders)."""
    from ..class_folders import read_class_folders

    return read_class_folders(root)


def progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="img", file=sys.stderr, disable=None, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() redraws at most every mininterval

    return bar, update


def embed_with_progress(paths: list[Path], embedder, desc: str = "embedding"):
    """embed_files with the user cache and a tqdm bar on stderr; bad files are warned about, once each."""
    from ..embedding_cache import EmbeddingCache
    from ..pipeline import embed_files

    bar, update = progress_bar(desc)
    with EmbeddingCache.default() as cache:
        try:
            res = embed_files(paths, embedder, cache=cache, progress=update,
                              batch_size=256 if embedder.device == "cuda" else 32)
        finally:
            bar.close()
    for err in res.errors:
        print(f"fewlens: skipped {err}", file=sys.stderr)
    return res


def cli_progress():
    """A ``progress(stage, done, total)`` for core.recognizer_build: one tqdm bar per stage on stderr."""
    state = {}

    def progress(stage: str, done: int, total: int) -> None:
        if state.get("stage") != stage:
            if "bar" in state:
                state["bar"][0].close()
            state["stage"], state["bar"] = stage, progress_bar(stage)
        state["bar"][1](done, total)

    def close() -> None:
        if "bar" in state:
            state.pop("bar")[0].close()

    return progress, close


def embed_into_project(proj, paths: list[Path], backbone: str | None, device: str) -> list[ImageError]:
    from ..backbones import DEFAULT_BACKBONE
    from ..embedder import Embedder
    from ..pipeline import embed_files

    embedder = Embedder(backbone or DEFAULT_BACKBONE, device=device)
    bar, update = progress_bar("embedding")
    try:
        res = embed_files(paths, embedder, cache=proj.embedding_cache, progress=update,
                          batch_size=256 if embedder.device == "cuda" else 32)
    finally:
        bar.close()
    for err in res.errors:
        print(f"fewlens: could not embed {err}", file=sys.stderr)
    return res.errors
