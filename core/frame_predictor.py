"""The one seam between live frames and the model: ``frames_predictor``.

The camera loop (core/camera.py) only needs ``predict(frames) -> (probs, class_names)``.
Today that callable is built from an embedder (``core.embedder.Embedder`` or an adapted
backbone, ``core.adaptation.AdaptedBackbone``) plus a fitted few-shot method, exactly what
the gallery and ``fewlens predict`` use.  When the fitted Recognizer (issue 11) lands, this
function is the one place to swap for ``Recognizer.predict_images``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frames_predictor(embedder, method, class_names: Sequence[str] | None = None):
    """``predict(frames: list[HxWx3 uint8 RGB]) -> (probs (N, C) float32, class names (C,))``.

    ``embedder``: anything with ``.spec`` and ``.embed_batch`` (Embedder, AdaptedBackbone);
    ``method``: a fitted FewShotMethod; ``class_names``: names of ``method.classes_`` in
    column order (default: the class labels themselves as strings).
    Frames are preprocessed as image files are (core.preprocess), so a frame saved to disk
    and imported gets the prediction it had live.
    """
    from PIL import Image

    from .preprocess import preprocess_batch

    names = [str(c) for c in (class_names if class_names is not None else method.classes_)]
    if len(names) != len(method.classes_):
        raise ValueError(f"{len(names)} class names for {len(method.classes_)} classes")
    spec = embedder.spec

    def predict(frames: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        batch = preprocess_batch([Image.fromarray(np.ascontiguousarray(f, np.uint8)) for f in frames], spec)
        vecs = embedder.embed_batch(batch)
        return np.asarray(method.predict_proba(vecs), np.float32), names

    return predict
