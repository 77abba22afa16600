"""core.episodes: dataset index, reproducible disjoint episodes, unlabeled pools, scoring."""

from __future__ import annotations

import numpy as np
import pytest

from core.episodes import (EpisodeSampler, FolderDataset, evaluate, expected_calibration_error, mean_ci95,
                           sample_episodes)
from core.errors import FewLensError
from core.methods.base import FewShotMethod, softmax


def _labels(counts):
    return np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int64)


def test_same_seed_same_episodes_and_prefix_stable():
    y = _labels([30] * 8)
    a = sample_episodes(y, 5, 1, 15, 50, seed=3)
    b = sample_episodes(y, 5, 1, 15, 20, seed=3)
    c = sample_episodes(y, 5, 1, 15, 20, seed=4)
    for ea, eb in zip(a, b):
        assert np.array_equal(ea.support, eb.support) and np.array_equal(ea.query, eb.query)
    assert any(not np.array_equal(ea.support, ec.support) for ea, ec in zip(a, c))
    # episodes vary: not always the same classes
    assert len({tuple(e.classes) for e in a}) > 10


def test_episode_shape_labels_and_disjointness():
    counts = [25, 30, 40, 21, 50, 33, 27]
    y = _labels(counts)
    for ep in sample_episodes(y, 5, 5, 15, 40, seed=0, unlabeled_pool=4):
        assert len(ep.support) == 25 and len(ep.query) == 75
        # episode label j is dataset class classes[j]
        assert np.array_equal(y[ep.support], ep.classes[ep.support_labels])
        assert np.array_equal(y[ep.query], ep.classes[ep.query_labels])
        assert np.bincount(ep.support_labels).tolist() == [5] * 5
        assert np.bincount(ep.query_labels).tolist() == [15] * 5
        # support, queries and the unlabeled pool never share an image
        allidx = np.concatenate([ep.support, ep.query, ep.unlabeled])
        assert len(np.unique(allidx)) == len(allidx)
        # pool: up to M per episode class (what is left of it), and M*N distractors from other classes
        inside = ep.unlabeled_labels >= 0
        for j, c in enumerate(ep.classes):
            assert (ep.unlabeled_labels == j).sum() == min(4, counts[c] - 20)
            assert np.all(y[ep.unlabeled[ep.unlabeled_labels == j]] == c)
        assert (~inside).sum() == 20
        assert not np.isin(y[ep.unlabeled[~inside]], ep.classes).any()


def test_small_classes_are_never_picked_and_too_few_classes_is_an_error():
    y = _labels([30, 30, 30, 30, 30, 10])  # class 5 cannot give 5 shots + 15 queries
    assert all(5 not in ep.classes for ep in sample_episodes(y, 5, 5, 15, 30))
    with pytest.raises(ValueError, match="needs 5 classes with at least 20 images; only 4"):
        EpisodeSampler(_labels([30, 30, 30, 30, 10]), 5, 5, 15)


def test_queries_are_shuffled():
    y = _labels([30] * 5)
    ep = sample_episodes(y, 5, 1, 15, 1)[0]
    assert not np.array_equal(ep.query_labels, np.sort(ep.query_labels))


def test_mean_ci95():
    m, h = mean_ci95([0.5, 0.7] * 50)
    assert m == pytest.approx(0.6)
    assert h == pytest.approx(1.96 * np.std([0.5, 0.7] * 50, ddof=1) / 10)
    assert mean_ci95([0.4]) == (0.4, 0.0)


def test_ece():
    assert expected_calibration_error(np.array([0.9] * 10), np.array([1] * 9 + [0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1.0] * 4), np.array([0, 0, 1, 1])) == pytest.approx(0.5)


class Oracle(FewShotMethod):
    """Gets the answer from the features themselves (feature 0 = dataset class); checks the plumbing."""

    uses_unlabeled = True
    seen_unlabeled: list = []

    def _fit(self, x, y, unlabeled):
        Oracle.seen_unlabeled.append(None if unlabeled is None else len(unlabeled))
        self.map_ = {int(c): j for c, j in zip(x[:, 0], y)}

    def _scores(self, q):
        logits = np.full((len(q), len(self.classes_)), -10.0)
        for r, c in enumerate(q[:, 0]):
            logits[r, self.map_[int(c)]] = 10.0
        return softmax(logits)


def test_evaluate_scores_episodes_and_passes_the_transductive_pool():
    rng = np.random.default_rng(0)
    y = _labels([40] * 8)
    feats = np.concatenate([y[:, None].astype(np.float32), rng.normal(size=(len(y), 7))], 1).astype(np.float32)
    eps = sample_episodes(y, 5, 2, 10, 25, unlabeled_pool=3)
    Oracle.seen_unlabeled = []
    res = evaluate(feats, eps, Oracle)
    assert res.accuracy == pytest.approx(100.0) and res.ci95 == 0.0
    assert res.ece < 0.1
    # the pool (3 per class + 15 distractors) plus the 50 queries
    assert Oracle.seen_unlabeled == [15 + 15 + 50] * 25
    # the real registered method on separable random features
    centers = rng.normal(size=(8, 32)) * 3
    feats2 = (centers[y] + rng.normal(size=(len(y), 32))).astype(np.float32)
    out = evaluate(feats2, sample_episodes(y, 5, 1, 15, 30), "protonet")
    assert out.accuracy > 90 and out.summary()["episodes"] == 30
    shuffled = evaluate(rng.permutation(feats2), sample_episodes(y, 5, 1, 15, 30), "protonet")
    assert shuffled.accuracy < 50  # labels no longer match features: near chance


def test_folder_dataset(tmp_path, data_dir):
    ds = FolderDataset.from_folder(data_dir / "clothing_mini")
    assert ds.classes == ["Hat", "Pants", "Shoes"]
    assert len(ds) == 18 and ds.class_counts() == {"Hat": 6, "Pants": 6, "Shoes": 6}
    assert all(ds.classes[y] == p.parent.name for p, y in zip(ds.paths, ds.labels))
    sub = ds.subset(["Shoes", "Hat"])
    assert sub.classes == ["Shoes", "Hat"] and len(sub) == 12
    assert all(sub.classes[y] == p.parent.name for p, y in zip(sub.paths, sub.labels))
    emb = {p: np.full(4, i, np.float32) for i, p in enumerate(ds.paths) if i % 2 == 0}
    kept, feats = ds.with_embeddings(emb)
    assert len(kept) == 9 and feats.shape == (9, 4)
    assert [p for p in kept.paths] == [p for i, p in enumerate(ds.paths) if i % 2 == 0]
    with pytest.raises(FewLensError, match="folder not found"):
        FolderDataset.from_folder(tmp_path / "nope")
    (tmp_path / "flat.jpg").write_bytes(b"x")
    with pytest.raises(FewLensError, match="no class subfolders") as ei:
        FolderDataset.from_folder(tmp_path)
    assert str(tmp_path) in str(ei.value)
