"""A fitted recognizer: what "predict with this project's model" means, in one object.

    rec = build_recognizer(project_or_support_dir)      # core.recognizer_build
    rec.predict_images([pil_or_path, ...])               # -> RecognizerPredictions
    rec.predict_embeddings(X)                            # the live path: cached embeddings, no backbone
    rec.export("model.onnx")                             # core.export: ONNX + sidecar + labels + runner
    Recognizer.load("model.onnx")                        # back, with ONNX Runtime only

A Recognizer holds the backbone (frozen, or the network adapted to the labels), the preprocessing
contract (the backbone's resize / crop / normalization), the fitted method and its exportable head,
the classes (names, colors, column order), the unknown threshold and provenance.  Built fresh it
predicts embeddings with the fitted method itself (exactly what the gallery shows); loaded from an
exported file it runs the file's graph and its head.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FewLensError, ModelFileError
from .heads import Head

from .model_format import (FORMAT_VERSION, HEAD_KEY, INPUT_IMAGES, METADATA_KEY, OUTPUT_EMBEDDING,
                           OUTPUT_PROBS, OUTPUT_TOP, RESAMPLE)


@dataclass(frozen=True)
class RecognizerClass:
    name: str
    color: str = "#888888"


@dataclass
class RecognizerPredictions:
    probs: np.ndarray  # (M, C) float32, column order = Recognizer.classes
    top: np.ndarray  # (M,) int64 column index
    confidence: np.ndarray  # (M,) float32
    unknown: np.ndarray  # (M,) bool: confidence below the recognizer's threshold
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.top)

    def label(self, i: int) -> str:
        return self.class_names[int(self.top[i])]


@dataclass
class InputContract:
    size: int  # S: the square crop the network sees
    resize: int  # the shorter side is resized to this first
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def as_json(self) -> dict:
        return {"size": self.size, "resize": self.resize, "layout": "NHWC", "dtype": "uint8", "color": "RGB",
                "resample": RESAMPLE, "crop": "center, offset floor((side - size) / 2)",
                "resize_rounding": "round(side * resize / shorter side), at least size",
                "decode": "EXIF transpose; alpha composited on white; JPEG draft((resize, resize)); "
                          "integer reduce() while the shorter side stays >= 2 * resize",
                "normalization_in_graph": {"mean": list(self.mean), "std": list(self.std),
                                           "formula": "(p / 255 - mean) / std"}}


class OnnxFeaturizer:
    """Embeds images by running an exported FewLens graph (its ``embedding`` output)."""

    def __init__(self, session, contract: InputContract):
        self.session = session
        self.contract = contract
        self.device = "cpu"

    def run(self, images) -> tuple[np.ndarray, np.ndarray]:
        from .preprocess import resize_center_crop

        c = self.contract
        x = np.stack([np.asarray(resize_center_crop(im, c.resize, c.size), np.uint8) for im in images])
        probs, emb = self.session.run([OUTPUT_PROBS, OUTPUT_EMBEDDING], {INPUT_IMAGES: x})
        return probs, emb

    def embed_images(self, images, batch: int = 32) -> np.ndarray:
        out = [self.run(images[i:i + batch])[1] for i in range(0, len(images), batch)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


@dataclass
class Recognizer:
    classes: list[RecognizerClass]
    head: Head | None  # None: a method without an exportable head (it still predicts, fresh)
    contract: InputContract
    unknown_threshold: float
    provenance: dict
    featurizer: object  # .embed_images(list[PIL]) -> (N, D): Embedder, AdaptedBackbone or OnnxFeaturizer
    spec: object = None  # BackboneSpec, when the backbone is known here
    method: object = None  # the fitted FewShotMethod (fresh recognizers); None when loaded
    adapted: object = None  # core.adaptation.AdaptedBackbone when the backbone was adapted
    source: Path | None = None  # the file a loaded recognizer came from
    extra: dict = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def method_name(self) -> str:
        return self.provenance.get("method", self.head.method if self.head is not None else "?")

    @property
    def class_ids(self) -> list[int]:
        """The project's class id of each column (built from the app's rows), else 0..C-1."""
        return list(self.extra.get("class_ids") or range(len(self.classes)))

    # ------------------------------------------------------------------ predicting
    def predict_embeddings(self, x: np.ndarray) -> RecognizerPredictions:
        x = np.asarray(x, np.float32)
        if x.ndim == 1:
            x = x[None]
        if len(x) == 0:
            probs = np.zeros((0, len(self.classes)), np.float32)
        elif self.method is not None:
            probs = self.method.predict_proba(x).astype(np.float32, copy=False)
        else:
            probs = self.head.probs(x)
        return self._predictions(probs)

    def predict_images(self, images: Sequence) -> RecognizerPredictions:
        """PIL images or image paths (decoded with core.images.load_image, errors raise ImageError)."""
        pil = self.load_images(images)
        if isinstance(self.featurizer, OnnxFeaturizer) and pil:
            probs = np.concatenate([self.featurizer.run(pil[i:i + 32])[0] for i in range(0, len(pil), 32)])
            return self._predictions(probs.astype(np.float32))
        return self.predict_embeddings(self.embed_images(pil))

    def embed_images(self, images: Sequence) -> np.ndarray:
        pil = self.load_images(images)
        if not pil:
            return np.zeros((0, self.embed_dim), np.float32)
        return np.asarray(self.featurizer.embed_images(pil), np.float32)

    def load_images(self, images: Sequence) -> list:
        from .images import load_image

        return [load_image(im, min_side=self.contract.resize) if isinstance(im, (str, os.PathLike)) else im
                for im in images]

    @property
    def embed_dim(self) -> int:
        if self.head is None:
            return int(self.featurizer.embed_dim)
        a = self.head.arrays
        return int(a["W"].shape[1] if self.head.kind == "linear" else a["support"].shape[1]
                   if self.head.kind == "siamese" else a["protos"].shape[1])

    def _predictions(self, probs: np.ndarray) -> RecognizerPredictions:
        top = probs.argmax(1).astype(np.int64) if probs.size else np.zeros(0, np.int64)
        conf = probs[np.arange(len(top)), top] if probs.size else np.zeros(0, np.float32)
        return RecognizerPredictions(probs, top, conf, conf < self.unknown_threshold, self.class_names)

    # ------------------------------------------------------------------ describing
    def metadata(self, exported_at: str | None = None) -> dict:
        """The ``fewlens`` JSON of an exported model (docs/EXPORT.md)."""
        import datetime

        from . import __version__

        p = self.provenance
        return {
            "format_version": FORMAT_VERSION,
            "classes": [{"name": c.name, "color": c.color} for c in self.classes],
            "method": self.method_name,
            "backbone": dict(p.get("backbone", {})),
            "adapted": bool(p.get("adapted", False)),
            "unknown_threshold": float(self.unknown_threshold),
            "input": self.contract.as_json(),
            "outputs": {OUTPUT_PROBS: "float32 [N, C]", OUTPUT_TOP: "int64 [N]",
                        OUTPUT_EMBEDDING: f"float32 [N, {self.embed_dim}]"},
            "fewlens_version": p.get("fewlens_version", __version__),
            "exported_at": exported_at or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "labels_per_class": dict(p.get("labels_per_class", {})),
            **({"chosen": dict(p["chosen"])} if p.get("chosen") else {}),
        }

    # ------------------------------------------------------------------ files
    def export(self, path: os.PathLike | str, format: str = "onnx", runner: bool = True, progress=None):
        """Write the model (+ sidecar JSON, labels.txt and, for ONNX, the standalone runner)."""
        from .export import export_recognizer

        return export_recognizer(self, Path(path), format=format, runner=runner, progress=progress)

    def save(self, path: os.PathLike | str) -> Path:
        """One self-contained ONNX file that :meth:`load` reads back."""
        return self.export(path, format="onnx", runner=False).model

    @classmethod
    def load(cls, path: os.PathLike | str, threads: int | None = None) -> "Recognizer":
        """An exported FewLens ``.onnx`` (ONNX Runtime only).  A foreign or corrupt file raises
        :class:`ModelFileError` naming it."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(path, "file not found" if not path.exists() else "not a file")
        meta, head_b64, session = read_exported(path, threads)
        try:
            head = Head.from_bytes(base64.b64decode(head_b64))
            inp = meta["input"]
            norm = inp.get("normalization_in_graph", {})
            contract = InputContract(int(inp["size"]), int(inp["resize"]), tuple(norm.get("mean", (0, 0, 0))),
                                     tuple(norm.get("std", (1, 1, 1))))
            classes = [RecognizerClass(str(c["name"]), str(c.get("color", "#888888"))) for c in meta["classes"]]
            threshold = float(meta.get("unknown_threshold", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(path, f"FewLens metadata is incomplete or damaged ({e})") from None
        if head.n_classes != len(classes):
            raise ModelFileError(path, "FewLens metadata and head disagree on the number of classes")
        spec = None
        try:
            from .backbones import get_backbone

            spec = get_backbone(meta["backbone"]["id"])
        except Exception:  # a backbone this install does not have: the file's own graph still runs
            spec = None
        prov = {"method": meta.get("method", head.method), "backbone": meta.get("backbone", {}),
                "adapted": bool(meta.get("adapted", False)), "labels_per_class": meta.get("labels_per_class", {}),
                "fewlens_version": meta.get("fewlens_version"), "exported_at": meta.get("exported_at")}
        return cls(classes, head, contract, threshold, prov, OnnxFeaturizer(session, contract), spec=spec,
                   source=path, extra={"metadata": meta})


def read_exported(path: Path, threads: int | None = None):
    """(metadata dict, head base64, ORT session) of an exported FewLens model, or ModelFileError."""
    from .ort import new_ort_session

    try:
        session = new_ort_session(str(path), threads)
    except Exception as e:
        text = str(e).strip().splitlines()
        raise ModelFileError(path, f"not a loadable ONNX model ({(text[-1] if text else type(e).__name__)[:160]})") \
            from None
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props or HEAD_KEY not in props:
        raise ModelFileError(path, "not a FewLens model (no 'fewlens' metadata; export it from FewLens)")
    try:
        meta = json.loads(props[METADATA_KEY])
    except ValueError:
        raise ModelFileError(path, "FewLens metadata is not valid JSON") from None
    names_in = [i.name for i in session.get_inputs()]
    names_out = {o.name for o in session.get_outputs()}
    if names_in != [INPUT_IMAGES] or not {OUTPUT_PROBS, OUTPUT_TOP, OUTPUT_EMBEDDING} <= names_out:
        raise ModelFileError(path, "not a FewLens model (unexpected inputs/outputs)")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise FewLensError(f"{path}: exported by a newer FewLens (format {meta.get('format_version')}); update FewLens")
    return meta, props[HEAD_KEY], session


__all__ = ["FORMAT_VERSION", "HEAD_KEY", "INPUT_IMAGES", "InputContract", "METADATA_KEY", "OnnxFeaturizer",
           "OUTPUT_EMBEDDING", "OUTPUT_PROBS", "OUTPUT_TOP", "RESAMPLE", "Recognizer", "RecognizerClass",
           "RecognizerPredictions", "read_exported"]
