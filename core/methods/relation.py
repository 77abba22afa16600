"""Relation network on frozen embeddings (Sung et al. 2018): a learned module scores (query, class).

Class representations are the means of the (L2-normalized) support embeddings; the relation
module (``core.meta.heads.RelationHead``) maps each (query, class) pair to a relation score.
A head meta-trained for the backbone is loaded when it ships (``weights=`` / ``backbone=``); else
the module is fitted on the support set, with feature-dropout views of the support examples as
queries (so it learns which feature differences matter for these classes).
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax


class RelationMethod(FewShotMethod):
    name = "relation"

    def __init__(self, weights: str | None = None, backbone: str | None = None, hidden: int = 64,
                 steps: int = 60, lr: float = 5e-3, batch: int = 32, seed: int = 0):
        super().__init__()
        self.weights = weights
        self.backbone = backbone
        self.hidden = hidden
        self.steps = steps
        self.lr = lr
        self.batch = batch
        self.seed = seed
        self.head = None
        self.protos_: np.ndarray | None = None

    def _fit(self, x, y, unlabeled):
        import torch
        import torch.nn.functional as F

        from ..meta.heads import RelationHead, class_means
        from ..meta.support_fit import feature_views, head_weights_path, load_head_state, torch_threads_guard

        x = l2_normalize(x)
        c = len(self.classes_)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        self.protos_ = class_means(xt, yt, c)
        path = self.weights or head_weights_path(self.backbone, "relation")
        if path:
            cfg, state = load_head_state(path, "relation", x.shape[1])
            head = RelationHead(x.shape[1], int(cfg.get("relation_hidden", self.hidden)))
            head.load_state_dict(state)
        else:
            with torch_threads_guard():
                torch.manual_seed(self.seed)
                head = RelationHead(x.shape[1], self.hidden)
                gen = torch.Generator().manual_seed(self.seed)
                opt = torch.optim.Adam(head.parameters(), lr=self.lr)
                for _ in range(self.steps):
                    # a random batch of noisy support views as queries against every class
                    pick = torch.randint(len(xt), (self.batch,), generator=gen)
                    v = feature_views(xt[pick], 1, 0.3, 0.05, gen)
                    loss = F.cross_entropy(head.pairwise(v, self.protos_), yt[pick])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        self.head = head.eval()

    def relation_scores(self, q: np.ndarray) -> np.ndarray:
        """(M, C) relation logits (sigmoid = the relation score in [0, 1])."""
        import torch

        with torch.no_grad():
            return self.head.pairwise(torch.from_numpy(l2_normalize(q)), self.protos_).numpy()

    def _scores(self, q):
        return softmax(self.relation_scores(q)).astype(np.float32)
