"""Feature bank: a frozen encoder's embeddings of every training image, computed once.

While the encoder is frozen (the first ``freeze_backbone`` steps of a run started from another
model's encoder), a training step only needs embeddings, and on a CPU the Conv-4 forward pass over
an episode's images is nearly all of a step's cost (about 0.3 s of 0.45 s for a 40-way 5-query
episode on one thread; bench/results/meta_methods.md).  So each image is embedded ``views``
times (view 0 clean, the others augmented like training episodes) and a frozen step samples its
episode from the bank, picking one view per image: the same episodes as the image path, at the
cost of the head alone.  Deterministic given the seed, so resume stays exact.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from .datasets import MetaDataset
from .sampling import Augment, to_input

BANK_SALT = 7919  # keeps the bank's augmentation draws apart from the episodes'


def bank_key(learner, ds: MetaDataset, views: int, seed: int, augment: Augment | None) -> str:
    """Hash of everything the bank depends on: encoder weights, data, views, seed, augmentation."""
    h = hashlib.sha256(repr((views, seed, augment, ds.store_size, ds.input_size, ds.class_names)).encode())
    for k, v in sorted(learner.backbone.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    for x in ds.images:
        h.update(x.tobytes())
    return h.hexdigest()[:24]


def build_feature_bank(learner, ds: MetaDataset, views: int, seed: int, augment: Augment | None,
                       device: str = "cpu", chunk: int = 512, cache: Path | None = None) -> MetaDataset:
    """A MetaDataset whose class ``c`` holds float32 (n_c, views, D) embeddings instead of images,
    so ``sample_episode`` draws from it unchanged.  ``cache``: a folder where the bank is kept by
    :func:`bank_key` (two methods started from the same encoder share it)."""
    counts = [len(x) for x in ds.images]
    path = Path(cache) / f"bank-{bank_key(learner, ds, views, seed, augment)}.npy" if cache else None
    if path is not None and path.is_file():
        z = np.load(path)
    else:
        z = _embed_all(learner, ds, views, seed, augment, device, chunk)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp.npy")
            np.save(tmp, z)
            os.replace(tmp, path)
    per_class = np.split(z, np.cumsum(counts)[:-1])
    return MetaDataset(per_class, list(ds.class_names), list(ds.groups), ds.channels, ds.store_size,
                       ds.input_size, "feature-bank", {"views": views})


def _embed_all(learner, ds, views, seed, augment, device, chunk) -> np.ndarray:
    was_training = learner.training
    learner.eval()
    flat = np.concatenate(ds.images)
    out = []
    with torch.no_grad():
        for v in range(views):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + BANK_SALT + v)
            zs = []
            for i in range(0, len(flat), chunk):
                x = to_input(flat[i:i + chunk], ds.store_size, ds.input_size, augment if v else None, gen, device)
                zs.append(learner.embed(x).float().cpu())
            out.append(torch.cat(zs))
    learner.train(was_training)
    return torch.stack(out, 1).numpy()  # (N, views, D)


def pick_views(z: np.ndarray, gen: torch.Generator, device: str = "cpu") -> torch.Tensor:
    """(B, views, D) -> (B, D): one random view per image."""
    zt = torch.from_numpy(np.ascontiguousarray(z))
    idx = torch.randint(zt.shape[1], (zt.shape[0],), generator=gen)
    return zt[torch.arange(zt.shape[0]), idx].to(device)
