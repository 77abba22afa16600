"""The one seam between live frames and the model: ``frames_predictor``.

The camera loop (core/camera.py) only needs ``predict(frames) -> (probs, class_names)``.  The
app builds it from the session's fitted :class:`core.recognizer.Recognizer` (what the gallery
predicts with: pretrained or adapted features, the fitted method, its calibrated confidence), or
from an exported model loaded with ``Recognizer.load``; ``fewlens camera`` from an embedder and a
method fitted on its examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frames_predictor(embedder, method=None, class_names: Sequence[str] | None = None):
    """``predict(frames: list[HxWx3 uint8 RGB]) -> (probs (N, C) float32, class names (C,))``.

    ``embedder``: a Recognizer (then ``method`` and ``class_names`` are its own), or anything with
    ``.spec`` and ``.embed_batch`` (Embedder, AdaptedBackbone) with ``method`` a fitted
    FewShotMethod and ``class_names`` the names of ``method.classes_`` in column order (default:
    the class labels themselves as strings).
    Frames are preprocessed as image files are (core.preprocess), so a frame saved to disk
    and imported gets the prediction it had live.
    """
    from PIL import Image

    from .preprocess import preprocess_batch

    if method is None:  # a Recognizer: its featurizer, its head
        rec = embedder

        def predict_rec(frames: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
            p = rec.predict_images([Image.fromarray(np.ascontiguousarray(f, np.uint8)) for f in frames])
            return p.probs, p.class_names

        return predict_rec
    names = [str(c) for c in (class_names if class_names is not None else method.classes_)]
    if len(names) != len(method.classes_):
        raise ValueError(f"{len(names)} class names for {len(method.classes_)} classes")
    spec = embedder.spec

    def predict(frames: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        batch = preprocess_batch([Image.fromarray(np.ascontiguousarray(f, np.uint8)) for f in frames], spec)
        vecs = embedder.embed_batch(batch)
        return np.asarray(method.predict_proba(vecs), np.float32), names

    return predict
