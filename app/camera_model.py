"""The camera's model: what the gallery predicts with, snapshotted from the session.

The snapshot is taken on the UI thread (cheap: a view of the embedding matrix, copies of
the label and "have" vectors); the few-shot method is fitted lazily on the camera's
recognition thread, on its first frame, so a refit never blocks painting.  Frames go
through :func:`core.frame_predictor.frames_predictor`, the seam the fitted Recognizer
(issue 11) will replace.
"""

from __future__ import annotations

import numpy as np

from core.frame_predictor import frames_predictor
from core.live_model import UNLABELED, fit_method


def session_predictor(session):
    """``predict(frames) -> (probs, class names)`` for the session's current labels, or None
    when nothing is labeled yet."""
    adapted = session.adapted if session.adapted_in_use else None
    emb = adapted.matrix if adapted is not None else session.emb
    labels = session.labels.copy()
    if not ((labels != UNLABELED) & emb.have[: len(labels)]).any():
        return None
    method_name, kwargs = session.method, session.method_kwargs()
    data, have = emb.data, emb.have.copy()  # the matrix replaces its arrays when rows move
    names = {c.id: c.name for c in session.classes}
    backbone = session.backbone
    network = adapted.network if adapted is not None else None
    fitted = {}

    def predict(frames: list[np.ndarray]):
        fn = fitted.get("fn")
        if fn is None:
            from core.embedders import get_embedder

            method = fit_method(method_name, data, have, labels, kwargs)
            features = network if network is not None else get_embedder(backbone)
            fn = fitted["fn"] = frames_predictor(features, method,
                                                 [names.get(int(c), "?") for c in method.classes_])
        return fn(frames)

    return predict
