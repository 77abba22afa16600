"""MAML / ANIL on frozen embeddings: a linear head adapted to the support set by a few gradient steps.

For large pretrained backbones only the head adapts (ANIL, Raghu et al. 2020), which is what keeps
it interactive: the inner loop is closed-form softmax-regression gradients in NumPy (no torch on
the CPU path).  The head's *initialisation* is the meta-learned part; since a GUI project has any
number of classes, the init is the Proto-MAML one (Triantafillou et al. 2020): row ``c`` of the
weights = 2 x prototype, bias = -||prototype||^2, i.e. exactly the Euclidean ProtoNet the
inner loop then refines.  ``inner_lr`` / ``steps`` can be replaced by meta-trained values for a
backbone (``weights=`` / ``backbone=``: a head file whose config holds ``inner_lr``, ``steps``,
``temperature``).  The end-to-end MAML of Conv-4 on Omniglot (second / first order, ``clone``/``adapt``)
lives in ``core.meta.learners.MAMLLearner``.
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax


class MAMLMethod(FewShotMethod):
    name = "maml"

    def __init__(self, steps: int = 10, inner_lr: float = 0.5, temperature: float = 10.0, weight_decay: float = 0.0,
                 weights: str | None = None, backbone: str | None = None):
        super().__init__()
        self.steps = steps
        self.inner_lr = inner_lr
        # features are scaled so the Proto-MAML init equals cosine ProtoNet at this temperature
        self.temperature = temperature
        self.weight_decay = weight_decay
        self.weights = weights
        self.backbone = backbone
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.support_losses_: list[float] = []
        self._load_meta()

    def _load_meta(self):
        from ..meta.support_fit import head_weights_path

        path = self.weights or head_weights_path(self.backbone, "maml")
        if not path:
            return
        from ..meta.checkpoints import load_checkpoint

        cfg = load_checkpoint(path)["config"]
        self.inner_lr = float(cfg.get("inner_lr", self.inner_lr))
        self.steps = int(cfg.get("steps", self.steps))
        self.temperature = float(cfg.get("temperature", self.temperature))

    def _feat(self, x):
        # -||f - p||^2 with f = sqrt(T/2) u equals T (cos(u, p) - 1) for unit vectors
        return np.sqrt(self.temperature / 2.0) * l2_normalize(x)

    def _fit(self, x, y, unlabeled):
        f = self._feat(x)
        c = len(self.classes_)
        protos = np.zeros((c, f.shape[1]), np.float32)
        np.add.at(protos, y, f)
        protos /= np.bincount(y, minlength=c)[:, None]
        # Proto-MAML init: the linear form of -||f - p||^2 (the ||f||^2 term is shared by all classes)
        W = 2 * protos
        b = -(protos**2).sum(1)
        onehot = np.eye(c, dtype=np.float32)[y]
        n = len(f)
        self.support_losses_ = []
        for _ in range(self.steps + 1):
            p = softmax(f @ W.T + b)
            self.support_losses_.append(float(-np.log(p[np.arange(n), y] + 1e-12).mean()))
            if len(self.support_losses_) > self.steps:
                break
            g = (p - onehot) / n  # dL/dlogits of the mean cross-entropy
            W = W - self.inner_lr * (g.T @ f + self.weight_decay * W)
            b = b - self.inner_lr * g.sum(0)
        self.W, self.b = W.astype(np.float32), b.astype(np.float32)

    def _scores(self, q):
        return softmax(self._feat(q) @ self.W.T + self.b).astype(np.float32)
