"""Episode sampling and augmentation for meta-training.

Every episode is a pure function of ``(seed, episode index)``: the class draw uses a NumPy
generator seeded with both, and augmentation a torch generator seeded the same way.  That makes
training deterministic with a seed, makes resume exact (the episode counter is the state), and
lets DDP ranks share one episode stream and take every ``world_size``-th episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import MetaDataset


@dataclass(frozen=True)
class EpisodeShape:
    ways: int
    shots: int
    queries: int


def episode_rng(seed: int, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, index, salt])


def sample_episode(ds: MetaDataset, shape: EpisodeShape, rng: np.random.Generator, within_group: float = 0.0):
    """Draw an episode: (support uint8 (N*K, C, S, S), query uint8 (N*Q, ...), class indices).

    ``within_group`` is the probability of drawing all classes from one group (alphabet), the
    harder setting of Lake's benchmark; groups with too few classes fall back to a global draw.
    """
    n = shape.ways
    classes = None
    if within_group > 0 and rng.random() < within_group:
        groups = sorted(set(ds.groups))
        members = {g: [i for i, gg in enumerate(ds.groups) if gg == g] for g in groups}
        ok = [g for g in groups if len(members[g]) >= n]
        if ok:
            g = ok[rng.integers(len(ok))]
            classes = rng.choice(members[g], n, replace=False)
    if classes is None:
        if len(ds) < n:
            raise ValueError(f"{n}-way episodes need {n} classes; the dataset has {len(ds)}")
        classes = rng.choice(len(ds), n, replace=False)
    k, q = shape.shots, shape.queries
    sup, qry = [], []
    for c in classes:
        imgs = ds.images[c]
        if len(imgs) < k + q:
            raise ValueError(f"class {ds.class_names[c]} has {len(imgs)} images; {k}+{q} needed")
        pick = rng.choice(len(imgs), k + q, replace=False)
        sup.append(imgs[pick[:k]])
        qry.append(imgs[pick[k:]])
    return np.concatenate(sup), np.concatenate(qry), np.asarray(classes)


def episode_labels(shape: EpisodeShape) -> tuple[np.ndarray, np.ndarray]:
    return (np.repeat(np.arange(shape.ways), shape.shots), np.repeat(np.arange(shape.ways), shape.queries))


@dataclass(frozen=True)
class Augment:
    """Random affine warp plus stroke thickness change, applied per image at store resolution."""

    rotate_deg: float = 10.0
    scale: float = 0.15
    shear: float = 0.2
    translate: float = 0.08
    thickness_p: float = 0.4  # probability of dilating or eroding the strokes

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b = x.shape[0]

        def u(lo, hi):
            return torch.rand(b, generator=gen) * (hi - lo) + lo

        th = torch.deg2rad(u(-self.rotate_deg, self.rotate_deg))
        sx, sy = u(1 - self.scale, 1 + self.scale), u(1 - self.scale, 1 + self.scale)
        sh = u(-self.shear, self.shear)
        tx, ty = u(-self.translate, self.translate), u(-self.translate, self.translate)
        cos, sin = torch.cos(th), torch.sin(th)
        # inverse map (output -> input coordinates), as affine_grid expects
        a = torch.stack([torch.stack([cos / sx, (-sin + sh) / sx, tx], 1),
                         torch.stack([sin / sy, cos / sy, ty], 1)], 1)
        grid = F.affine_grid(a.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.thickness_p > 0:
            r = torch.rand(b, generator=gen)
            dil = F.max_pool2d(x, 3, 1, 1)
            ero = -F.max_pool2d(-x, 3, 1, 1)
            choose_d = (r < self.thickness_p / 2).view(b, 1, 1, 1)
            choose_e = ((r >= self.thickness_p / 2) & (r < self.thickness_p)).view(b, 1, 1, 1)
            x = torch.where(choose_d, dil, torch.where(choose_e, ero, x))
        return x


def to_input(x_uint8: np.ndarray, ds_store: int, input_size: int, augment: Augment | None = None,
             gen: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (B, C, S, S) at store size -> float (B, C, input, input) in [0, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).float().div_(255.0)
    if augment is not None:
        x = augment(x, gen if gen is not None else torch.Generator().manual_seed(0))
    if ds_store != input_size:
        if ds_store % input_size == 0:
            x = F.avg_pool2d(x, ds_store // input_size)
        else:
            x = F.interpolate(x, size=(input_size, input_size), mode="area")
    return x.to(device)
