"""Episodic few-shot evaluation on precomputed embeddings.

    ds = FolderDataset.from_folder("/data/clothing17")            # one subfolder per class
    res = embed_files(ds.paths, embedder, cache=EmbeddingCache.default())
    ds, feats = ds.with_embeddings(res.embeddings)                # drops files that failed
    eps = sample_episodes(ds.labels, ways=5, shots=1, queries=15, episodes=600, seed=0)
    out = evaluate(feats, eps, "protonet")
    out.accuracy, out.ci95                                        # percent, 95% half-width

Episode ``i`` depends only on (seed, i, the labels and the N/K/Q/M settings),
so every method, backbone and run sees identical episodes, and the first 100
of 600 episodes are the 100 you get by asking for 100.  Everything is NumPy
on an (n, D) feature matrix: a 600-episode evaluation takes seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FewLensError

MethodFactory = Callable[[], "object"]


# --------------------------------------------------------------------------- datasets
@dataclass
class FolderDataset:
    """A folder-per-class image set: ``root/<class name>/**/<image>``."""

    root: Path
    classes: list[str]
    paths: list[Path]
    labels: np.ndarray  # (n,) int64 index into classes

    @classmethod
    def from_folder(cls, root: os.PathLike | str, classes: Sequence[str] | None = None) -> "FolderDataset":
        """Index ``root``.  Hidden folders are skipped; ``classes`` restricts (and orders) the classes used."""
        from .class_folders import scan_class_folders

        root = Path(root)
        found, _ = scan_class_folders(root)
        names = sorted(found)
        if classes is not None:
            missing = [c for c in classes if c not in names]
            if missing:
                raise FewLensError(f"{root}: no class folder named {', '.join(map(repr, missing))}")
            names = list(classes)
        paths: list[Path] = []
        labels: list[int] = []
        kept: list[str] = []
        for name in names:
            files = found[name]
            if not files:
                continue  # an empty class folder cannot be sampled; it simply is not a class
            labels += [len(kept)] * len(files)
            paths += files
            kept.append(name)
        if not kept:
            raise FewLensError(f"{root}: no class subfolders with images (expected <class name>/<images>)")
        return cls(root, kept, paths, np.asarray(labels, np.int64))

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return dict(zip(self.classes, counts.tolist()))

    def subset(self, classes: Sequence[str]) -> "FolderDataset":
        """Only ``classes`` (in that order), e.g. a 10-class selection split and a 7-class confirmation split."""
        idx = {c: i for i, c in enumerate(self.classes)}
        missing = [c for c in classes if c not in idx]
        if missing:
            raise FewLensError(f"{self.root}: no class named {', '.join(map(repr, missing))}")
        old_to_new = {idx[c]: j for j, c in enumerate(classes)}
        keep = [i for i, y in enumerate(self.labels.tolist()) if y in old_to_new]
        return FolderDataset(self.root, list(classes), [self.paths[i] for i in keep],
                             np.asarray([old_to_new[int(self.labels[i])] for i in keep], np.int64))

    def with_embeddings(self, embeddings: Mapping[Path, np.ndarray]) -> tuple["FolderDataset", np.ndarray]:
        """Keep the files that have an embedding; return that dataset and its (n, D) feature matrix."""
        keep = [i for i, p in enumerate(self.paths) if p in embeddings]
        ds = FolderDataset(self.root, self.classes, [self.paths[i] for i in keep], self.labels[keep])
        if not keep:
            raise FewLensError(f"{self.root}: none of the images could be embedded")
        return ds, stack_features(ds.paths, embeddings)


def stack_features(paths: Sequence[Path], embeddings: Mapping[Path, np.ndarray]) -> np.ndarray:
    """(n, D) float32 matrix of ``embeddings[p]`` in the order of ``paths``."""
    return np.stack([np.asarray(embeddings[p], np.float32) for p in paths]) if paths else np.zeros((0, 0), np.float32)


# --------------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class Episode:
    """Indices into the dataset; ``*_labels`` are episode-local class ids 0..ways-1."""

    index: int
    classes: np.ndarray  # (N,) dataset class ids; episode label j means classes[j]
    support: np.ndarray  # (N*K,)
    support_labels: np.ndarray
    query: np.ndarray  # (N*Q,) in shuffled order, so a transductive method cannot read labels from position
    query_labels: np.ndarray
    unlabeled: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pool, shuffled
    unlabeled_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # -1: distractor


class EpisodeSampler:
    """Seeded N-way K-shot Q-query episodes, optionally with an unlabeled pool of M per class.

    The pool mimics a real project folder: M unlabeled images of each episode class
    (fewer if the class has run out after support and queries) plus M*N images of
    classes outside the episode (distractors), all disjoint from support and queries.
    Classes with fewer than K+Q images are never picked.  A dataset with no classes
    outside the episode simply gets no distractors.
    """

    def __init__(self, labels: np.ndarray, ways: int, shots: int, queries: int, seed: int = 0,
                 unlabeled_pool: int = 0):
        labels = np.asarray(labels, np.int64)
        if ways < 1 or shots < 1 or queries < 1 or unlabeled_pool < 0:
            raise ValueError("ways, shots and queries must be >= 1 and the unlabeled pool >= 0")
        self.labels = labels
        self.ways, self.shots, self.queries, self.seed, self.pool = ways, shots, queries, seed, unlabeled_pool
        self.by_class = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1 if labels.size else 0)]
        need = shots + queries
        self.eligible = np.asarray([c for c, idx in enumerate(self.by_class) if len(idx) >= need], np.int64)
        if len(self.eligible) < ways:
            raise ValueError(
                f"{ways}-way {shots}-shot with {queries} queries needs {ways} classes with at least {need} images; "
                f"only {len(self.eligible)} have that many")

    def episode(self, i: int) -> Episode:
        # One generator per (seed, episode): episodes are independent of how many are drawn.
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, i]))
        chosen = np.sort(rng.choice(self.eligible, size=self.ways, replace=False))
        k, q, m = self.shots, self.queries, self.pool
        sup, sup_y, qry, qry_y, unl, unl_y = [], [], [], [], [], []
        for j, c in enumerate(chosen):
            idx = rng.permutation(self.by_class[c])
            sup.append(idx[:k])
            qry.append(idx[k : k + q])
            sup_y.append(np.full(k, j))
            qry_y.append(np.full(q, j))
            if m:
                extra = idx[k + q : k + q + m]
                unl.append(extra)
                unl_y.append(np.full(len(extra), j))
        if m:
            outside = np.setdiff1d(np.arange(len(self.labels)), np.concatenate([self.by_class[c] for c in chosen]))
            distract = rng.choice(outside, size=min(m * self.ways, len(outside)), replace=False)
            unl.append(distract)
            unl_y.append(np.full(len(distract), -1))
        qry_all, qry_lab = np.concatenate(qry), np.concatenate(qry_y)
        order = rng.permutation(len(qry_all))
        if m:
            unl_all, unl_lab = np.concatenate(unl), np.concatenate(unl_y)
            uorder = rng.permutation(len(unl_all))
            unl_all, unl_lab = unl_all[uorder], unl_lab[uorder]
        else:
            unl_all = unl_lab = np.zeros(0, np.int64)
        return Episode(
            index=i,
            classes=chosen,
            support=np.concatenate(sup).astype(np.int64),
            support_labels=np.concatenate(sup_y).astype(np.int64),
            query=qry_all[order].astype(np.int64),
            query_labels=qry_lab[order].astype(np.int64),
            unlabeled=unl_all.astype(np.int64),
            unlabeled_labels=unl_lab.astype(np.int64),
        )

    def __call__(self, episodes: int) -> Iterator[Episode]:
        for i in range(episodes):
            yield self.episode(i)


def sample_episodes(labels: np.ndarray, ways: int, shots: int, queries: int, episodes: int, seed: int = 0,
                    unlabeled_pool: int = 0) -> list[Episode]:
    """The list of ``episodes`` episodes for these settings (see :class:`EpisodeSampler`)."""
    return list(EpisodeSampler(labels, ways, shots, queries, seed, unlabeled_pool)(episodes))


# --------------------------------------------------------------------------- scoring
def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (normal approximation, 1.96 s / sqrt(n))."""
    a = np.asarray(values, np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    if a.size == 1:
        return float(a[0]), 0.0
    return float(a.mean()), float(1.96 * a.std(ddof=1) / math.sqrt(a.size))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by bin size."""
    conf = np.asarray(confidence, np.float64)
    corr = np.asarray(correct, np.float64)
    if conf.size == 0:
        return float("nan")
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(corr[sel].mean() - conf[sel].mean())
    return float(total / conf.size)


@dataclass
class EvalResult:
    accuracies: np.ndarray  # (E,) per-episode accuracy in [0, 1]
    confidence: np.ndarray  # (E*N*Q,) top-class probability of every query
    correct: np.ndarray  # (E*N*Q,) bool

    @property
    def accuracy(self) -> float:
        """Mean accuracy, percent."""
        return 100.0 * mean_ci95(self.accuracies)[0]

    @property
    def ci95(self) -> float:
        """95% confidence half-width of the mean accuracy, percent."""
        return 100.0 * mean_ci95(self.accuracies)[1]

    @property
    def ece(self) -> float:
        """Expected calibration error of the top-class confidence, percent."""
        return 100.0 * expected_calibration_error(self.confidence, self.correct)

    def summary(self) -> dict:
        return {"accuracy_pct": round(self.accuracy, 3), "ci95_pct": round(self.ci95, 3),
                "ece_pct": round(self.ece, 3), "episodes": int(len(self.accuracies))}


def _factory(method: str | MethodFactory, method_kwargs: Mapping | None) -> MethodFactory:
    if callable(method):
        return method
    from .methods import get_method

    kwargs = dict(method_kwargs or {})
    get_method(method, **kwargs)  # fail on a bad name / argument before the first episode
    return lambda: get_method(method, **kwargs)


def run_episode(features: np.ndarray, episode: Episode, method) -> np.ndarray:
    """Fit ``method`` on the episode's support set and return (N*Q, N) query probabilities.

    A method with ``uses_unlabeled`` gets the unlabeled pool plus the queries (transductive),
    as the app gives it the project's unlabeled images.
    """
    unlabeled = None
    if getattr(method, "uses_unlabeled", False):
        unlabeled = features[np.concatenate([episode.unlabeled, episode.query])]
    method.process_support_set(features[episode.support], episode.support_labels, unlabeled=unlabeled)
    probs = np.asarray(method.predict_proba(features[episode.query]))
    # column j must be episode class j; methods order columns by sorted label, which is 0..N-1
    classes = np.asarray(method.classes_)
    if not np.array_equal(classes, np.arange(len(classes))):
        probs = probs[:, np.argsort(classes)]
    return probs


def evaluate(features: np.ndarray, episodes: Sequence[Episode] | Iterator[Episode],
             method: str | MethodFactory = "protonet", method_kwargs: Mapping | None = None,
             progress: Callable[[int, int], None] | None = None,
             episode_features: Callable[[Episode], tuple[np.ndarray, Episode]] | None = None) -> EvalResult:
    """Run ``method`` (a registered name or a factory returning a fresh method) on every episode.

    ``episode_features(episode) -> (features, episode indexed into them)`` replaces ``features`` per
    episode (the backbone adapted to that episode's labels: ``core.adaptation.adapted_episode``).
    """
    features = np.asarray(features, np.float32)
    make = _factory(method, method_kwargs)
    episodes = list(episodes)
    accs = np.zeros(len(episodes))
    confs, corrects = [], []
    for n, ep in enumerate(episodes):
        feats, local = episode_features(ep) if episode_features is not None else (features, ep)
        probs = run_episode(feats, local, make())
        pred = probs.argmax(1)
        ok = pred == ep.query_labels
        accs[n] = ok.mean()
        confs.append(probs[np.arange(len(pred)), pred])
        corrects.append(ok)
        if progress is not None:
            progress(n + 1, len(episodes))
    return EvalResult(accs, np.concatenate(confs) if confs else np.zeros(0),
                      np.concatenate(corrects) if corrects else np.zeros(0, bool))


__all__ = [
    "Episode", "EpisodeSampler", "EvalResult", "FolderDataset", "evaluate", "expected_calibration_error",
    "mean_ci95", "run_episode", "sample_episodes", "stack_features",
]
