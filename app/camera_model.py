"""The camera's model: the session's Recognizer, what the gallery predicts with.

The snapshot is taken on the UI thread (cheap: ``ProjectSession.recognizer_snapshot()``); the
Recognizer is fitted lazily on the camera's recognition thread, on its first frame, so a refit
never blocks painting.  Frames go through :func:`core.frame_predictor.frames_predictor`.
"""

from __future__ import annotations

import numpy as np

from core.frame_predictor import frames_predictor


def session_predictor(session):
    """``predict(frames) -> (probs, class names)`` for the session's current labels, or None
    when nothing is labeled yet."""
    snapshot = session.recognizer_snapshot()
    if not snapshot.has_labels:
        return None
    fitted = {}

    def predict(frames: list[np.ndarray]):
        fn = fitted.get("fn")
        if fn is None:
            fn = fitted["fn"] = frames_predictor(snapshot())
        return fn(frames)

    return predict
