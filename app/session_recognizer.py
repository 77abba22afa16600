"""The session's fitted Recognizer: what Try it, the camera and Export predict with.

``ProjectSession.recognizer_snapshot()`` takes a snapshot of the current fit's inputs on the UI
thread (cheap: a view of the embedding matrix, copies of the label and "have" vectors, the
method, the adapted network when predictions use it, the calibrated confidence factor and the
threshold in use); calling the snapshot fits the method (core.recognizer_build.recognizer_from_rows,
the gallery's own fit) once, on whatever thread calls it.  The gallery's live refit does not go
through here, so it stays as fast as it was; nothing is fitted until a consumer asks.
"""

from __future__ import annotations

import threading

from core.fitting import UNLABELED

class _PretrainedFeatures:
    """The app's shared Embedder for a backbone, built on first use (not on the UI thread)."""

    def __init__(self, backbone: str, spec):
        self.backbone, self.spec = backbone, spec

    @property
    def _embedder(self):
        from core.embedders import get_embedder

        return get_embedder(self.backbone)

    @property
    def embed_dim(self) -> int:
        return self.spec.embed_dim

    def embed_images(self, images):
        return self._embedder.embed_images(images)

    def embed_batch(self, x):
        return self._embedder.embed_batch(x)

    def classify(self, images, k: int = 3):
        return self._embedder.classify(images, k=k)

class RecognizerSnapshot:
    """Call it (any thread) for the Recognizer of the session's state when it was taken, or None
    when nothing is labeled yet; the fit runs once."""

    def __init__(self, session):
        adapted = session.adapted if session.adapted_in_use else None
        emb = adapted.matrix if adapted is not None else session.emb
        self.key = (session.generation, session.pred.generation, session.effective_threshold)
        self.method, self.kwargs = session.method, session.method_kwargs()
        self.factor = session.pred.confidence_factor  # the gallery's calibrated confidence
        # the matrix replaces its arrays when rows move, so a view stays what it was
        self.data, self.have, self.labels = emb.data, emb.have.copy(), session.labels.copy()
        self.classes = [(c.id, c.name, c.color) for c in session.classes]
        self.backbone = session.backbone
        self.network = adapted.network if adapted is not None else None
        self.threshold = float(session.effective_threshold)
        self.source = session.path
        self._lock = threading.Lock()
        self._done = False
        self._rec = None

    @property
    def has_labels(self) -> bool:
        n = len(self.labels)
        return bool(((self.labels != UNLABELED) & self.have[:n]).any())

    def __call__(self):
        with self._lock:
            if not self._done:
                from core.backbones import get_backbone
                from core.recognizer_build import recognizer_from_rows

                spec = get_backbone(self.backbone)
                features = self.network if self.network is not None else _PretrainedFeatures(self.backbone, spec)
                self._rec = recognizer_from_rows(self.method, self.data, self.have, self.labels, self.classes, spec,
                                                 features, method_kwargs=self.kwargs, confidence_factor=self.factor,
                                                 threshold=self.threshold, adapted=self.network, source=self.source)
                self._done = True
            return self._rec

def snapshot_for(session, cached: RecognizerSnapshot | None) -> RecognizerSnapshot:
    """``cached`` while the session's fit has not changed, else a fresh snapshot."""
    key = (session.generation, session.pred.generation, session.effective_threshold)
    if cached is not None and cached.key == key and cached.backbone == session.backbone:
        return cached
    return RecognizerSnapshot(session)

__all__ = ["RecognizerSnapshot", "snapshot_for"]
