"""Prototypes refined with the project's unlabeled images (semi-supervised soft k-means).

A labeling app has what a benchmark does not: every unlabeled image of the
project is already embedded.  This method uses them twice:

1. Feature transform fitted on the pool (core.methods.features): L2
   normalization, centering on the mean of the project's images, L2 again
   (a square-root power transform is an option; it measured no better here).
2. Soft k-means (Ren et al. 2018, "Meta-learning for semi-supervised few-shot
   classification"): start from the labeled class means, softly assign every
   unlabeled image to the prototypes, recompute the prototypes from the
   labeled images plus the weighted unlabeled ones, repeat a few times.

A real project folder holds images of classes nobody has labeled yet
(distractors).  They would drag prototypes away from their classes, so the
assignment has an extra "none of these" column with a fixed cosine score
``reject``: an image that is not clearly closer than that to some prototype
mostly goes there and barely moves any prototype.

Cost is bounded whatever the project size: the refinement uses at most
``max_unlabeled`` pool images (a fixed, seeded sample), so a refit is a few
small matrix products and the GUI's refit + predict stays interactive at
10,000+ images (measured in bench/bench_accuracy.py).
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax
from .features import FeatureTransform


CALIBRATED_T1 = 5.0
CALIBRATED_SHOT_EXPONENT = 0.24


def calibrated_temperature(shots_per_class: float) -> float:
    """Output temperature that makes confidence match accuracy for this many labels per class."""
    return CALIBRATED_T1 * max(float(shots_per_class), 1.0) ** CALIBRATED_SHOT_EXPONENT


class SoftKMeansProtoNet(FewShotMethod):
    name = "softkmeans"
    uses_unlabeled = True

    def __init__(
        self,
        beta: float = 1.0,
        center: str = "pool",
        iterations: int = 3,
        assign_temperature: float = 20.0,
        unlabeled_weight: float = 0.5,
        reject: float | None = 0.2,
        temperature: float | None = None,
        max_unlabeled: int = 1000,
        seed: int = 0,
        rebalance: int = 0,
        temperature_scale: float = 1.0,
    ):
        super().__init__()
        if iterations < 0 or max_unlabeled < 0 or unlabeled_weight < 0:
            raise ValueError("iterations, max_unlabeled and unlabeled_weight must be >= 0")
        self.transform = FeatureTransform(beta=beta, center=center)
        self.iterations = iterations
        self.assign_temperature = assign_temperature
        self.unlabeled_weight = unlabeled_weight
        self.reject = reject
        # output temperature: scales cosine similarity into the softmax that users read as confidence.
        # None: grows with the labels per class, T = 5.0 * shots ** 0.24, fitted by NLL on the
        # 10 selection classes of clothing17 (1-shot 5.0, 2: 6.0, 5: 7.5, 10: 8.7; bench --calibrate)
        self.temperature = temperature
        # multiplies the output temperature: features adapted to the labels are more confident than
        # the frozen ones it was fitted on (core.adaptation.adapted_method_kwargs passes 0.9)
        self.temperature_scale = float(temperature_scale)
        self.temperature_: float = temperature if temperature is not None else CALIBRATED_T1
        self.max_unlabeled = max_unlabeled
        self.seed = seed
        # rounds of partial class rebalancing of the soft assignment (0: off, the default).  Unlike
        # PT-MAP's Sinkhorn it never assumes equal class sizes: each class column is scaled by
        # sqrt(mean class mass / its mass), i.e. only halfway (in log) toward equal sizes, and the
        # reject column is left free.  Measured in bench/results/accuracy.md: within noise, not adopted.
        self.rebalance = int(rebalance)
        self.prototypes_: np.ndarray | None = None

    def _sample_pool(self, unlabeled: np.ndarray | None, size: int | None = None) -> np.ndarray | None:
        size = self.max_unlabeled if size is None else size
        if unlabeled is None or len(unlabeled) <= size:
            return unlabeled
        # fixed seed: the same project gives the same prototypes on every refit
        pick = np.random.default_rng(self.seed).choice(len(unlabeled), size, replace=False)
        return unlabeled[np.sort(pick)]

    def _fit(self, x, y, unlabeled):
        pool = self._sample_pool(unlabeled)
        s, u = self.transform.fit_transform(x, pool)
        self._refine(s, y, u)

    # --- cross-validation: what every fold shares (core.evaluation.crossval) --------------------
    def fold_context(self, support: np.ndarray, unlabeled: np.ndarray | None, held_max: int):
        """Each fold moves its held-out images from the support set into the pool, so support +
        pool is the same set of images in every fold: the pool sample and the feature transform
        (whose mean is taken over exactly that set) are computed once here, not once per fold.
        The sample leaves room for the held-out images, so no fold resamples."""
        room = max(self.max_unlabeled - held_max, 0)
        pool = self._sample_pool(unlabeled, room) if unlabeled is not None and len(unlabeled) and room else None
        transform = FeatureTransform(beta=self.transform.beta, center=self.transform.center)
        s, u = transform.fit_transform(np.asarray(support, np.float32), pool)
        return transform, s, u

    def fit_fold(self, context, labels: np.ndarray, keep: np.ndarray, held: np.ndarray) -> "SoftKMeansProtoNet":
        """Fit on the ``keep`` rows with the ``held`` rows joining the pool (what
        process_support_set would do with that split), from a fold_context."""
        transform, s, u = context
        self.transform = transform  # already fitted: every fold has the same mean
        self.classes_, y = np.unique(np.asarray(labels)[keep], return_inverse=True)
        self._refine(s[keep], y.astype(np.int64), s[held] if u is None else np.concatenate([u, s[held]]))
        return self

    def _refine(self, s: np.ndarray, y: np.ndarray, u: np.ndarray | None) -> None:
        """Soft k-means from the labeled means, on already transformed features."""
        c = len(self.classes_)
        onehot = np.zeros((len(y), c), np.float32)
        onehot[np.arange(len(y)), y] = 1.0
        label_sums = onehot.T @ s
        counts = onehot.sum(0)
        base = self.temperature if self.temperature is not None else calibrated_temperature(counts.mean())
        self.temperature_ = self.temperature_scale * base
        protos = l2_normalize(label_sums / counts[:, None])
        if u is not None and self.iterations and self.unlabeled_weight > 0:
            for _ in range(self.iterations):
                logits = self.assign_temperature * (u @ protos.T)
                if self.reject is not None:
                    logits = np.concatenate([logits, np.full((len(u), 1), self.assign_temperature * self.reject, np.float32)], 1)
                p = softmax(logits)
                for _ in range(self.rebalance):
                    mass = p[:, :c].sum(0)
                    p[:, :c] *= np.sqrt(mass.sum() / c / np.maximum(mass, 1e-6))
                    p /= p.sum(1, keepdims=True)
                w = p[:, :c] * self.unlabeled_weight
                protos = l2_normalize((label_sums + w.T @ u) / (counts + w.sum(0))[:, None])
        self.prototypes_ = protos.astype(np.float32)

    def logits(self, q: np.ndarray) -> np.ndarray:
        return self.temperature_ * self.transform.similarity(q, self.prototypes_)

    def _scores(self, q):
        return softmax(self.logits(q)).astype(np.float32)
