"""Transductive inference for meta-trained ProtoNets: prototypes refined with the unlabeled queries.

In a one-shot task the images to classify are all there at test time (Lake's 20 test drawings, or
the app's unlabeled pool).  A single support drawing is a noisy prototype; the queries that fall
near it tell where the class really sits.  Soft k-means (Ren et al. 2018, "Meta-learning for
semi-supervised few-shot classification") starts from the support prototypes, softly assigns every
query to them, and moves each prototype toward the weighted mean of its support and the queries
assigned to it, a few times.

Unlike ``core.methods.transductive`` (cosine similarity on centred, normalised frozen photo
features), this works in the metric the ProtoNet was meta-trained with: squared Euclidean
distance, whose scale the training loss fixed, so one temperature fits every task.  It never
matches queries to classes one-to-one.  The query ``weight`` sets how far queries pull the
prototypes: a heavy weight pays when every class has queries (Lake's runs) but drags the
prototype of a class without queries onto another class's images; a light weight is the safe
choice for an unbalanced pool (measured in bench/results/meta.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SoftKMeans:
    """Euclidean soft k-means refinement of class prototypes with unlabeled queries.

    ``temperature`` divides the squared distances in the soft assignment (1: the ProtoNet's own
    softmax); ``weight`` is how much a query fully assigned to a class counts against one labeled
    example; ``iterations`` = 0 is plain (inductive) ProtoNet.
    """

    iterations: int = 3
    temperature: float = 1.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.temperature <= 0 or self.weight < 0:
            raise ValueError("soft k-means needs iterations >= 0, temperature > 0 and weight >= 0")

    @classmethod
    def parse(cls, spec: str) -> "SoftKMeans":
        """``"it=3,t=1,w=1"`` (any subset; the rest keep their defaults) -> SoftKMeans."""
        keys = {"it": "iterations", "t": "temperature", "w": "weight"}
        kw: dict = {}
        for part in (p for p in spec.split(",") if p.strip()):
            k, sep, v = part.partition("=")
            if not sep or k.strip() not in keys:
                raise ValueError(f"bad soft k-means option {part!r} (use it=N,t=T,w=W)")
            name = keys[k.strip()]
            kw[name] = int(v) if name == "iterations" else float(v)
        return cls(**kw)

    def label(self) -> str:
        return f"it={self.iterations},t={self.temperature:g},w={self.weight:g}"

    def prototypes(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, ways: int) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(ys, ways).to(zs.dtype)  # (N, C)
        sums = onehot.T @ zs  # (C, D)
        counts = onehot.sum(0)  # (C,)
        protos = sums / counts.clamp_min(1.0)[:, None]
        for _ in range(self.iterations if self.weight > 0 and len(zq) else 0):
            p = torch.softmax(-torch.cdist(zq, protos).pow(2) / self.temperature, 1) * self.weight  # (M, C)
            protos = (sums + p.T @ zq) / (counts + p.sum(0)).clamp_min(1e-6)[:, None]
        return protos

    def logits(self, zs: torch.Tensor, ys: torch.Tensor, zq: torch.Tensor, ways: int) -> torch.Tensor:
        """ProtoNet logits (-squared distance, the trained scale) against the refined prototypes."""
        return -torch.cdist(zq, self.prototypes(zs, ys, zq, ways)).pow(2)
