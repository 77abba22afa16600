"""Siamese network on frozen embeddings (Koch et al. 2015): a weighted-L1 same/different head.

One-shot classification = the class of the most similar support example; ``same_probability``
answers "are these two the same class?" with a calibrated score (the head's sigmoid, temperature
fitted on the support pairs).  The head is loaded from a meta-trained checkpoint for the backbone
when one ships (``weights=`` or ``backbone=``, see ``core.meta.support_fit``), else fitted on the
support set: all support pairs plus feature-dropout views of each example as positives.
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax


class SiameseMethod(FewShotMethod):
    name = "siamese"

    def __init__(self, weights: str | None = None, backbone: str | None = None, steps: int = 30,
                 lr: float = 0.01, batch: int = 32, seed: int = 0):
        super().__init__()
        self.weights = weights
        self.backbone = backbone
        self.steps = steps
        self.lr = lr
        self.batch = batch
        self.seed = seed
        self.head = None
        self.calib_ = (1.0, 0.0)
        self.support_: np.ndarray | None = None
        self.support_y_: np.ndarray | None = None

    def _make_head(self, dim: int):
        from ..meta.heads import SiameseHead
        from ..meta.support_fit import head_weights_path, load_head_state

        head = SiameseHead(dim)
        path = self.weights or head_weights_path(self.backbone, "siamese")
        if path:
            _, state = load_head_state(path, "siamese", dim)
            head.load_state_dict(state)
            return head, True
        return head, False

    def _fit(self, x, y, unlabeled):
        import torch
        import torch.nn.functional as F

        from ..meta.support_fit import feature_views, torch_threads_guard

        x = l2_normalize(x)
        self.support_, self.support_y_ = x, y
        head, pretrained = self._make_head(x.shape[1])
        if not pretrained and self.steps > 0:
            with torch_threads_guard():
                gen = torch.Generator().manual_seed(self.seed)
                xt, yt = torch.from_numpy(x), torch.from_numpy(y)
                opt = torch.optim.Adam(head.parameters(), lr=self.lr)
                for _ in range(self.steps):
                    # a random batch of noisy views scored against every support example: all
                    # same/different pairs of the support set, at a cost independent of its size
                    pick = torch.randint(len(xt), (self.batch,), generator=gen)
                    v = feature_views(xt[pick], 1, 0.2, 0.05, gen)
                    logits = head.pairwise(v, xt)
                    same = (yt[pick][:, None] == yt[None, :]).float()
                    pos = same.sum().clamp_min(1)
                    loss = F.binary_cross_entropy_with_logits(
                        logits, same, pos_weight=(same.numel() - pos) / pos)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        self.head = head.eval()
        self._calibrate(x, y)

    def _calibrate(self, x: np.ndarray, y: np.ndarray) -> None:
        """Platt scaling of the pair logits: p(same) = sigmoid(a * logit + c), fitted on support pairs
        (each support example vs. the others and vs. a noisy view of itself), classes balanced."""
        rng = np.random.default_rng(self.seed)
        views = x + 0.05 * x.std() * rng.standard_normal(x.shape).astype(np.float32)
        pair = self.pair_logits(views, x).ravel()
        same = (y[:, None] == y[None, :]).ravel().astype(np.float64)
        w = np.where(same > 0, 0.5 / max(same.sum(), 1), 0.5 / max((1 - same).sum(), 1))
        z = (pair - pair.mean()) / (pair.std() + 1e-6)
        a, c = 1.0, 0.0
        for _ in range(200):  # weighted logistic regression on one feature, gradient descent
            p = 1 / (1 + np.exp(-(a * z + c)))
            g = w * (p - same)
            a -= 2.0 * float((g * z).sum()) + 1e-3 * a
            c -= 2.0 * float(g.sum())
        # fold the standardisation into (a, c) so they apply to raw logits
        self.calib_ = (a / (pair.std() + 1e-6), c - a * pair.mean() / (pair.std() + 1e-6))

    def pair_logits(self, q: np.ndarray, s: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.head.pairwise(torch.from_numpy(l2_normalize(q)), torch.from_numpy(l2_normalize(s))).numpy()

    def same_probability(self, a: np.ndarray, b: np.ndarray) -> float:
        """Calibrated p(same class) for two embeddings, from the fitted head."""
        if self.head is None:
            raise RuntimeError("siamese: call process_support_set() first")
        a = np.asarray(a, np.float32).reshape(1, -1)
        b = np.asarray(b, np.float32).reshape(1, -1)
        sa, sc = self.calib_
        return float(1.0 / (1.0 + np.exp(-(sa * self.pair_logits(a, b)[0, 0] + sc))))

    def _scores(self, q):
        pair = self.pair_logits(q, self.support_)
        c = len(self.classes_)
        best = np.full((len(q), c), -np.inf, np.float32)
        for k in range(c):
            best[:, k] = pair[:, self.support_y_ == k].mean(1)
        return softmax(self.calib_[0] * best).astype(np.float32)
