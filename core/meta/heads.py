"""Learned comparison heads shared by meta-training (Conv-4 end to end) and the embedding-level
methods in ``core.methods`` (frozen MobileNet embeddings).  Torch modules on (.., D) vectors."""

from __future__ import annotations

import torch
from torch import nn


class SiameseHead(nn.Module):
    """Koch et al. (2015): p(same) = sigmoid(sum_j w_j |a_j - b_j| + b), w learned per dimension."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        # start as a (negative) plain L1 distance, so an untrained head already ranks sensibly
        self.weight = nn.Parameter(torch.full((dim,), -1.0 / dim ** 0.5))
        self.bias = nn.Parameter(torch.tensor(1.0))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Broadcasting pair logits: a (..., D), b (..., D) -> (...)."""
        return (a - b).abs() @ self.weight + self.bias

    def pairwise(self, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(M, D) x (N, D) -> (M, N) same-class logits."""
        return self(q[:, None, :], s[None, :, :])


class RelationHead(nn.Module):
    """Sung et al. (2018): a learned relation module g(f(x_q), f(c)) -> relation score in [0, 1].

    Works on embedding vectors (the paper's Conv-4 feature maps are 1x1 at 28 px), fed as
    [a, b, |a - b|, a * b] so the MLP sees both the features and their comparison.
    """

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.dim = dim
        self.hidden = hidden
        self.mlp = nn.Sequential(
            nn.Linear(4 * dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden // 2), nn.ReLU(),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = torch.broadcast_tensors(a, b)
        return self.mlp(torch.cat([a, b, (a - b).abs(), a * b], -1)).squeeze(-1)

    def pairwise(self, q: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """(M, D) x (C, D) -> (M, C) relation logits (sigmoid = relation score)."""
        return self(q[:, None, :], protos[None, :, :])


def class_means(x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(n, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, y, x)
    return out / torch.bincount(y, minlength=n).clamp_min(1).to(x.dtype)[:, None]
