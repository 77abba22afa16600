"""core.evaluation: the estimate is a true leave-one-out; metrics, mislabels, choice, suggestions, map."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation import (
    choose_model, class_stats, confusion_matrix, cross_validate, evaluate_labels, pca_2d, possible_mislabels,
    reliability, suggest_labels,
)
from core.methods import get_method


def clusters(n_classes=4, per_class=12, dim=32, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * 2.0
    y = np.repeat(np.arange(n_classes), per_class)
    x = centers[y] + rng.normal(size=(len(y), dim)) * spread * 2.0
    return x.astype(np.float32), y


def brute_force_loo(method_name, x, labels):
    """Hold out each labeled image in turn; the app would then see it as unlabeled."""
    lab = np.flatnonzero(labels >= 0)
    pool_rows = np.flatnonzero(labels < 0)
    right = scored = 0
    for i in lab:
        others = lab[lab != i]
        if (labels[others] == labels[i]).sum() == 0:
            continue  # the class would vanish: not scored
        m = get_method(method_name)
        pool = np.concatenate([x[pool_rows], x[i : i + 1]]) if m.uses_unlabeled else None
        m.process_support_set(x[others], labels[others], unlabeled=pool)
        pred = m.classes_[m.predict_proba(x[i : i + 1]).argmax(1)[0]]
        right += int(pred == labels[i])
        scored += 1
    return right / scored, scored


@pytest.mark.parametrize("method", ["protonet", "softkmeans"])
def test_estimate_equals_brute_force_leave_one_out(method):
    x, y = clusters(spread=3.0, seed=3)  # overlapping enough that some held-out images are wrong
    labels = np.full(len(y), -1)
    rng = np.random.default_rng(1)
    for c in range(4):
        labels[rng.choice(np.flatnonzero(y == c), 4, replace=False)] = c
    labels[np.flatnonzero(labels == 3)[1:]] = -1  # class 3 has a single label: cannot be held out
    ev = evaluate_labels(x, np.ones(len(y), bool), labels, method=method)
    acc, scored = brute_force_loo(method, x, labels)
    assert ev.cv.folds == "leave-one-out"
    assert ev.cv.n_scored == scored == 12
    assert ev.accuracy == pytest.approx(acc)
    assert 0 < acc < 1, "the fixture should have both right and wrong held-out predictions"
    assert ev.headline() == f"Estimated accuracy {100 * acc:.0f} % ± {100 * ev.ci95:.0f}, from 13 labels"


@pytest.mark.parametrize("folds", [None, 3])
def test_a_pool_above_the_sample_size_is_cross_validated_like_separate_fits(folds):
    """The folds share one pool sample and feature transform (speed); each fold must still
    predict what a separate fit on that split, with that sample plus its held-out images, does."""
    from core.evaluation.crossval import fold_assignment

    x, y = clusters(spread=2.0, seed=8)
    unl = clusters(per_class=50, spread=2.0, seed=8)[0]  # 200 unlabeled, sampled down to fit in 30
    make = lambda: get_method("softkmeans", max_unlabeled=30)
    cv = cross_validate(make, x, y, unl, folds=folds)
    groups, _ = fold_assignment(y, folds)
    room = 30 - max(len(g) for g in groups)
    sample = unl[np.sort(np.random.default_rng(0).choice(len(unl), room, replace=False))]
    for held in groups:
        keep = np.ones(len(y), bool)
        keep[held] = False
        m = make().process_support_set(x[keep], y[keep], unlabeled=np.concatenate([sample, x[held]]))
        np.testing.assert_allclose(cv.probs[held], m.predict_proba(x[held]), atol=1e-5)
    assert cv.scored.all()


def test_confusion_matrix_and_per_class_table_agree_with_the_predictions():
    x, y = clusters(spread=1.2, seed=5)
    cv = cross_validate(lambda: get_method("protonet"), x, y)
    m = confusion_matrix(cv)
    pred = cv.predicted
    for t in range(4):
        for p in range(4):
            assert m[t, p] == ((y == t) & (pred == p)).sum()
    stats = class_stats(cv)
    assert [s.recall for s in stats] == pytest.approx([m[j, j] / m[j].sum() for j in range(4)])
    assert [s.precision for s in stats] == pytest.approx([m[j, j] / m[:, j].sum() for j in range(4)])
    bins = reliability(cv, bins=5)
    assert bins.count.sum() == len(y)
    assert 0 <= bins.ece <= 1


def test_a_wrong_label_is_the_first_possible_mislabel():
    x, y = clusters(spread=0.3, seed=2)
    given = y.copy()
    given[5] = 2  # an image of class 0 labeled as class 2
    cv = cross_validate(lambda: get_method("softkmeans"), x, given)
    top = possible_mislabels(cv)
    assert top and top[0].index == 5
    assert top[0].label == 2 and top[0].predicted == 0


def test_choice_keeps_the_better_method_and_reports_it():
    x, y = clusters(spread=1.0, seed=4)
    unl = x[::2] + 0.01
    ch = choose_model(x, y, unl)
    acc = {n: cross_validate(lambda n=n: get_method(n), x, y, unl).accuracy for n in ("protonet", "softkmeans")}
    assert ch.scores == pytest.approx(acc)
    best = "softkmeans" if acc["softkmeans"] > acc["protonet"] else None
    if best:
        assert ch.method == "softkmeans"
    elif acc["softkmeans"] < acc["protonet"]:
        assert ch.method == "protonet"
    assert ch.message().startswith("Using prototypes")
    assert "on your labels" in ch.message()
    assert ch.threshold is not None and 0 < ch.threshold < 1


def test_a_guarded_choice_says_the_pool_scored_higher_rather_than_a_negative_gain():
    from core.evaluation.choice import ModelChoice

    ch = ModelChoice("protonet", {}, "prototypes only", scores={"protonet": 0.75, "softkmeans": 0.83}, n_scored=12)
    msg = ch.message()
    assert msg.startswith("Using prototypes only") and "-8" not in msg
    assert "prototypes + unlabeled images scored 8 points higher on your labels" in msg


def test_choice_with_one_label_per_class_says_why():
    x, y = clusters(per_class=1)
    ch = choose_model(x, y)
    assert ch.method == "softkmeans" and "2 labels" in ch.message()


def test_auto_method_predicts_like_its_choice():
    x, y = clusters(spread=0.8, seed=6)
    m = get_method("auto").process_support_set(x[::2], y[::2], unlabeled=x[1::2])
    inner = get_method(m.choice.method).process_support_set(x[::2], y[::2], unlabeled=x[1::2])
    assert (m.predict_proba(x[1::2]).argmax(1) == inner.predict_proba(x[1::2]).argmax(1)).all()
    np.testing.assert_allclose(m.predict_proba(x[1::2]).sum(1), 1, rtol=1e-5)


def test_suggestions_skip_near_duplicates_and_reach_an_unlabeled_class():
    x, y = clusters(n_classes=5, per_class=20, spread=0.3, seed=7)
    labeled = np.zeros(len(y), bool)
    for c in range(4):  # class 4 has no label yet
        labeled[np.flatnonzero(y == c)[:2]] = True
    # ten copies of the same doubtful photo
    dup = np.flatnonzero(y == 1)[5]
    x[np.flatnonzero(y == 1)[6:16]] = x[dup]
    m = get_method("protonet").process_support_set(x[labeled], y[labeled])
    probs = m.predict_proba(x)
    probs[np.flatnonzero(y == 1)[5:16]] = [0.5, 0.5, 0, 0]  # most uncertain of all
    picks = [s.index for s in suggest_labels(x, labeled, probs, k=8)]
    assert len(picks) == len(set(picks)) == 8
    assert not labeled[picks].any()
    copies = set(np.flatnonzero(y == 1)[5:16].tolist())
    assert len(copies & set(picks)) <= 1
    assert (y[picks] == 4).any(), "a batch must reach the class nobody has labeled"


def test_suggestions_before_any_label_cover_several_clusters():
    x, y = clusters(n_classes=5, per_class=20, spread=0.3, seed=8)
    picks = [s.index for s in suggest_labels(x, np.zeros(len(y), bool), None, k=5)]
    assert len(set(y[picks])) >= 4


def test_suggestions_on_a_tiny_project_still_offer_every_image():
    x, y = clusters(n_classes=3, per_class=3, spread=2.0, seed=10)
    labeled = np.zeros(len(y), bool)
    labeled[[0, 3, 6]] = True
    picks = [s.index for s in suggest_labels(x, labeled, None, k=24)]
    assert sorted(picks) == [1, 2, 4, 5, 7, 8]


def test_pca_map_separates_clusters_and_skips_rows_without_embedding():
    x, y = clusters(n_classes=2, per_class=30, spread=0.2, seed=9)
    have = np.ones(len(y), bool)
    have[3] = False
    xy = pca_2d(x, have)
    assert xy.shape == (60, 2) and np.isnan(xy[3]).all()
    a, b = xy[(y == 0) & have, 0], xy[(y == 1) & have, 0]
    assert a.max() < b.min() or b.max() < a.min()


def test_fewlens_eval_runs_the_auto_choice_per_episode(capsys, data_dir):
    import json

    from core.cli import main
    from core.episodes import FolderDataset, evaluate, sample_episodes

    args = ["eval", "--dataset", str(data_dir / "clothing_mini"), "--ways", "3", "--shots", "2", "--queries", "3",
            "--episodes", "10", "--adapt", "off", "--json"]
    assert main(args + ["--method", "auto"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert auto["method"] == "auto" and auto["transductive"]
    # the same episodes, choosing from each support set with choose_model directly
    from core.commands.shared import embed_with_progress
    from core.embedder import Embedder

    ds = FolderDataset.from_folder(data_dir / "clothing_mini")
    ds, feats = ds.with_embeddings(embed_with_progress(ds.paths, Embedder(device="cpu")).embeddings)
    eps = sample_episodes(ds.labels, 3, 2, 3, 10, seed=0)
    direct = evaluate(feats, eps, lambda: get_method("auto"))
    assert auto["accuracy_pct"] == pytest.approx(round(direct.accuracy, 3))


def _cv_result(labels, right):
    """A held-out result whose predictions are right exactly where ``right`` says (2 classes)."""
    from core.evaluation.crossval import CrossValResult

    labels = np.asarray(labels)
    probs = np.zeros((len(labels), 2), np.float32)
    pred = np.where(right, labels, 1 - labels)
    probs[np.arange(len(labels)), pred] = 0.9
    probs[np.arange(len(labels)), 1 - pred] = 0.1
    return CrossValResult(np.array([0, 1]), labels, np.ones(len(labels), bool), probs, "leave-one-out")


@pytest.mark.parametrize("only_soft, only_proto, expected", [(6, 4, "protonet"), (8, 1, "softkmeans"), (3, 3, "protonet")])
def test_choice_keeps_the_pool_only_when_it_clearly_helped(monkeypatch, only_soft, only_proto, expected):
    """Of the held-out labels the two methods disagree on, softkmeans must win by more than
    one standard deviation of the count (sign test, z = 1): a 6-4 split is noise."""
    import core.evaluation.choice as choice

    n = 30
    labels = np.arange(n) % 2
    both = np.zeros(n, bool)
    both[: n - only_soft - only_proto - 5] = True  # right for both; the last 5 wrong for both
    soft, proto = both.copy(), both.copy()
    start = n - only_soft - only_proto - 5
    soft[start:start + only_soft] = True
    proto[start + only_soft:start + only_soft + only_proto] = True
    outcome = {"softkmeans": _cv_result(labels, soft), "protonet": _cv_result(labels, proto)}
    calls = iter(outcome[name] for name, _, _ in choice.CANDIDATES)
    monkeypatch.setattr(choice, "cross_validate", lambda *a, **k: next(calls))
    ch = choice.choose_model(np.zeros((n, 4), np.float32), labels, np.zeros((5, 4), np.float32))
    assert ch.method == expected
