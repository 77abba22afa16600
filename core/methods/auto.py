"""``auto``: the method the support set itself vouches for (core.evaluation.choice).

On every fit, the labeled examples are cross-validated with ``softkmeans`` and ``protonet``
(the unlabeled pool as given), the better one is kept (ProtoNet unless the pool helps), its
temperature is refitted on the held-out predictions, and that model scores the queries.
``fewlens eval --method auto`` therefore measures what the app does, per episode, from the
support set alone (the queries only ever act as the unlabeled pool, as in ``softkmeans``).
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod

#: Up to this many labeled images, leave-one-out; above, 5 folds (bounds a refit's cost).
AUTO_LOO_MAX = 60


class AutoMethod(FewShotMethod):
    name = "auto"
    uses_unlabeled = True

    def __init__(self, temperature_scale: float = 1.0):
        super().__init__()
        # forwarded to softkmeans (adapted features: core.adaptation.adapted_method_kwargs)
        self.temperature_scale = float(temperature_scale)
        self.choice = None
        self.inner: FewShotMethod | None = None

    def _fit(self, x, y, unlabeled):
        from ..evaluation.choice import choose_model
        from . import get_method

        extra = {"softkmeans": {"temperature_scale": self.temperature_scale}} if self.temperature_scale != 1.0 else {}
        self.choice = choose_model(x, y, unlabeled, folds=None if len(y) <= AUTO_LOO_MAX else 5, method_kwargs=extra)
        self.inner = get_method(self.choice.method, **self.choice.kwargs)
        self.inner.process_support_set(x, y, unlabeled=unlabeled if self.inner.uses_unlabeled else None)

    def _scores(self, q):
        from ..evaluation.choice import apply_power

        p = np.asarray(self.inner.predict_proba(q), np.float32)
        return apply_power(p, self.choice.temperature_power)
