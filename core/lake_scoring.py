"""Scoring Lake's runs with a meta-trained learner: its own head, or a ``core.methods`` method on
its embeddings.

Outside ``core.meta`` because it uses ``core.methods``, and the methods use ``core.meta`` (one
direction between the two packages).
"""

from __future__ import annotations

import numpy as np

from .errors import FewLensError
from .meta.lake import tta_views
from .methods import get_method


class LearnerScorer:
    """Scores with a meta-trained learner's own head (``method`` None) or with a ``core.methods``
    method on its embeddings (``method`` = registry name).

    ``transductive`` (a :class:`~core.meta.transductive.SoftKMeans`) refines a ProtoNet's
    prototypes with the task's unlabeled query embeddings; ``core.methods`` methods that use
    unlabeled images (``softkmeans``) get the query embeddings as their pool.
    """

    def __init__(self, learner, method: str | None = None, tta: bool | str = True, method_kwargs: dict | None = None,
                 transductive=None):
        self.learner = learner
        # True -> the default "shift" views; False -> none; or a mode name for tta_views
        self.method = method
        self.tta = tta
        self.method_kwargs = method_kwargs or {}
        self.transductive = transductive
        if transductive is not None and method is None and getattr(learner, "method", "") != "protonet":
            raise FewLensError(f"transductive refinement needs a ProtoNet checkpoint, not {getattr(learner, 'method', '?')!r}")

    def _embed(self, x):
        import torch

        with torch.no_grad():
            views = tta_views(x, "shift" if self.tta is True else self.tta) if self.tta else [x]
            return torch.stack([self.learner.embed(v) for v in views]).mean(0)

    def embeddings(self, xs, xq):
        """(support, query) embeddings, TTA-averaged; ``None`` for learners scored on images (MAML)."""
        image_level = getattr(self.learner, "method", "") == "maml" and not getattr(self.learner, "proto_init", False)
        if self.method is None and (not hasattr(self.learner, "logits_z") or image_level):
            return None
        return self._embed(xs), self._embed(xq)

    def probs(self, zs, zq, transductive=None) -> np.ndarray:
        """Class probabilities from embeddings; ``transductive`` overrides this scorer's refinement."""
        import torch

        ways = len(zs)
        ys = torch.arange(ways)
        tr = self.transductive if transductive is None else transductive
        if self.method is None:
            with torch.no_grad():
                logits = tr.logits(zs, ys, zq, ways) if tr is not None else self.learner.logits_z(zs, ys, zq, ways)
            return torch.softmax(logits.float(), 1).numpy()
        m = get_method(self.method, **self.method_kwargs)
        unlabeled = zq.numpy() if getattr(m, "uses_unlabeled", False) else None
        m.process_support_set(zs.numpy(), np.arange(ways), unlabeled=unlabeled)
        return m.predict_proba(zq.numpy())

    def __call__(self, xs, xq) -> np.ndarray:
        import torch

        z = self.embeddings(xs, xq)
        if z is None:
            ways = len(xs)
            logits = self.learner.logits(xs, torch.arange(ways), xq, ways)
            return torch.softmax(logits.detach().float(), 1).numpy()
        return self.probs(*z)
