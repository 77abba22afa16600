"""The GUI's model service and undo commands, on synthetic embeddings (no backbone, no files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QUndoStack  # noqa: E402

from app import undo  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from app.widgets.gallery import GalleryFilter, GalleryModel  # noqa: E402
from core.live_model import UNLABELED, EmbeddingMatrix, fit_predict  # noqa: E402
from core.project import Project  # noqa: E402

DIM = 16


def clusters(n_per: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k well separated Gaussian clusters: (k*n_per, DIM) vectors and their cluster index."""
    rng = np.random.default_rng(seed)
    centers = np.eye(DIM, dtype=np.float32)[:k] * 4
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per, DIM)) for c in centers]).astype(np.float32)
    return x, np.repeat(np.arange(k), n_per)


def test_fit_predict_scores_every_embedded_row():
    x, y = clusters(20)
    labels = np.full(len(x), UNLABELED)
    for c in range(3):
        labels[np.flatnonzero(y == c)[:2]] = 100 + c  # class ids need not be 0..C-1
    have = np.ones(len(x), bool)
    have[5] = False  # not embedded yet: no prediction for it
    state = fit_predict("protonet", x, have, labels)
    assert list(state.class_ids) == [100, 101, 102]
    assert state.top[5] == UNLABELED and state.confidence[5] == 0
    rest = [r for r in range(len(x)) if r != 5]
    assert (state.top[rest] == 100 + y[rest]).mean() > 0.95
    assert np.allclose(state.probs[rest].sum(1), 1, atol=1e-5)
    top5 = state.top_k(0, 5)
    assert top5[0][0] == 100 and len(top5) == 3 and top5[0][1] >= top5[1][1]
    # nothing labeled: no predictions at all
    empty = fit_predict("protonet", x, have, np.full(len(x), UNLABELED))
    assert (empty.top == UNLABELED).all()


def test_cosine_fast_path_matches_the_method():
    x, y = clusters(50)
    x += np.random.default_rng(1).normal(0, 2, x.shape).astype(np.float32)  # overlap: non-trivial probs
    m = EmbeddingMatrix()
    m.resize(len(x))
    m.set_rows(np.arange(len(x)), x)
    labels = np.full(len(x), UNLABELED)
    labels[[0, 1, 50, 51, 100, 101]] = [7, 7, 8, 8, 9, 9]
    slow = fit_predict("protonet", m.data, m.have, labels)
    fast = fit_predict("protonet", m.data, m.have, labels, inv_norm=m.inv_norm)
    assert np.allclose(fast.probs, slow.probs, atol=1e-5)
    assert (fast.top == slow.top).all() and 0.4 < slow.confidence.mean() < 0.99


def test_embedding_matrix_grows_and_deletes_rows():
    m = EmbeddingMatrix()
    m.resize(3)
    m.set_rows(np.array([0, 2]), np.ones((2, 4)))
    assert m.dim == 4 and list(m.have) == [True, False, True]
    m.resize(10)
    assert m.data.shape == (10, 4) and m.have.sum() == 2
    m.delete_rows(np.array([0]))
    assert m.n == 9 and list(m.have[:2]) == [False, True]
    with pytest.raises(ValueError):
        m.set_rows(np.array([0]), np.ones((1, 5)))


@pytest.fixture
def session(tmp_path, qtbot):
    """A project with 3 classes x 10 synthetic images, 2 labeled per class."""
    s = ProjectSession(Project.create(tmp_path / "s.fewlens"))
    x, y = clusters(10)
    names = ["Cat", "Dog", "Fox"]
    cids = [s.add_class(n) for n in names]
    paths = [tmp_path / f"{names[c]}_{i}.jpg" for i, c in enumerate(y)]
    s.add_images(paths, [f"h{i}" for i in range(len(paths))], x)
    for c in range(3):
        s.set_labels([int(s.ids[r]) for r in np.flatnonzero(y == c)[:2]], cids[c])
    s.truth = {int(i): cids[c] for i, c in zip(s.ids, y)}
    qtbot.waitUntil(lambda: s.predictions_current, timeout=10_000)
    yield s
    s.close()


def labels_of(s: ProjectSession) -> dict[int, int]:
    return {int(i): int(c) for i, c in zip(s.ids, s.labels) if c != UNLABELED}


def test_predictions_follow_labels(session, qtbot):
    s = session
    unl = s.labels == UNLABELED
    assert (s.pred.top[unl] == np.array([s.truth[int(i)] for i in s.ids[unl]])).all()
    # relabel every Fox example as Dog: Fox disappears from the predictions
    fox = s.class_by_id(max(s.truth.values()))
    dog = s.classes[1]
    s.set_labels([i for i, c in labels_of(s).items() if c == fox.id], dog.id)
    qtbot.waitUntil(lambda: s.predictions_current, timeout=10_000)
    assert fox.id not in set(s.pred.top.tolist())
    # the unknown threshold is applied without a refit
    # Auto (the default): the threshold for the target error rate (0 here: every prediction of these
    # well separated clusters is sure enough; tests/app/test_app_calibration.py covers the rest)
    assert s.auto_threshold and s.pred.auto_threshold is not None and 0 <= s.pred.auto_threshold <= 1
    assert (s.unknown == (s.pred.confidence < s.pred.auto_threshold)).all()
    gen = s.pred.generation
    cut = float(np.median(s.pred.confidence))
    s.set_threshold(cut)
    assert (s.unknown == (s.pred.confidence < cut)).all() and 0 < s.unknown.sum() < len(s)
    assert s.pred.generation == gen and not s.auto_threshold  # a manual value turns Auto off
    assert s.project.get_setting("unknown_threshold") == pytest.approx(cut)
    assert s.project.get_setting("unknown_threshold_auto") is False


def test_label_accept_and_remove_undo_redo(session, qtbot):
    s, stack = session, QUndoStack()
    s.set_threshold(0.0)  # nothing "unknown": every prediction can be accepted
    before = labels_of(s)
    target = [int(i) for i in s.ids[s.labels == UNLABELED][:3]]
    stack.push(undo.LabelCommand(s, target, s.classes[0].id))
    assert all(labels_of(s)[i] == s.classes[0].id for i in target)
    stack.undo()
    assert labels_of(s) == before and labels_of(s) == s.project.labels()
    stack.redo()
    assert all(s.project.labels()[i] == s.classes[0].id for i in target)
    stack.undo()

    preds = s.predicted_labels([int(i) for i in s.ids[s.labels == UNLABELED]])
    assert len(preds) == 24
    stack.push(undo.AcceptPredictionsCommand(s, preds))
    assert s.labeled_count == 30 and s.project.counts().labeled == 30
    stack.undo()
    assert labels_of(s) == before

    order = list(s.ids)
    gone = order[3:6]
    stack.push(undo.RemoveImagesCommand(s, gone))
    assert len(s) == 27 and not set(gone) & set(s.ids.tolist())
    assert s.project.image_count() == 27
    stack.undo()
    assert list(s.ids) == order and s.emb.have.all()  # back in place, with their embeddings
    assert labels_of(s) == before
    qtbot.waitUntil(lambda: s.predictions_current, timeout=10_000)
    assert (s.pred.top != UNLABELED).all()


def test_class_commands_undo_redo(session):
    s, stack = session, QUndoStack()
    snapshot = lambda: ([(c.id, c.name, c.color) for c in s.classes], labels_of(s))  # noqa: E731
    start = snapshot()

    add = undo.AddClassCommand(s, "Owl")
    stack.push(add)
    assert s.classes[-1].name == "Owl"
    stack.undo()
    assert snapshot() == start
    stack.redo()
    assert s.classes[-1].id == add.class_id  # same id when redone
    stack.undo()

    cat, dog = s.classes[0], s.classes[1]
    stack.push(undo.RenameClassCommand(s, cat.id, "Kitten"))
    stack.push(undo.ClassColorCommand(s, cat.id, "#123456"))
    assert (s.classes[0].name, s.classes[0].color) == ("Kitten", "#123456")
    stack.push(undo.MergeClassesCommand(s, cat.id, dog.id))
    assert [c.name for c in s.classes] == ["Dog", "Fox"] and s.class_counts()[dog.id][0] == 4
    stack.push(undo.DeleteClassCommand(s, dog.id))
    assert [c.name for c in s.classes] == ["Fox"] and s.labeled_count == 2
    for _ in range(4):
        stack.undo()
    assert snapshot() == start
    assert {c.id: c.name for c in s.project.classes()} == {c[0]: c[1] for c in start[0]}

    dup = undo.RenameClassCommand(s, cat.id, "dog")  # names are unique, case-insensitively
    stack.push(dup)
    assert dup.error and "dog" in dup.error.lower()
    assert stack.count() == 0 and s.classes[0].name == "Cat"  # the failed command is not kept


def test_gallery_filters(session):
    s = session
    s.set_threshold(0.0)
    model = GalleryModel(s)
    assert model.rowCount() == 30
    model.set_filter(GalleryFilter("labeled"))
    assert model.rowCount() == 6
    model.set_filter(GalleryFilter("unlabeled"))
    assert model.rowCount() == 24
    model.set_filter(GalleryFilter("review"))
    conf = [s.pred.confidence[r] for r in model.rows]
    assert len(conf) == 24 and conf == sorted(conf)  # least sure first
    cat = s.classes[0]
    model.set_filter(GalleryFilter("class", cat.id))
    rows = list(model.rows)
    assert [s.labels[r] for r in rows[:2]] == [cat.id, cat.id]
    assert all(s.pred.top[r] == cat.id for r in rows[2:]) and len(rows) == 10
    # labeling inside a filter refilters it
    model.set_filter(GalleryFilter("unlabeled"))
    s.set_labels([int(s.ids[model.rows[0]])], cat.id)
    assert model.rowCount() == 23
    idx = model.index(0)
    assert model.data(idx) == Path(s.paths[model.rows[0]]).name
    assert model.index_of_image(model.image_id(idx)).row() == 0


def test_slow_methods_get_an_instant_preview_on_large_projects(tmp_path, qtbot, monkeypatch):
    from app import predictor
    from core import live_model

    monkeypatch.setattr(predictor, "PREVIEW_MIN_ROWS", 10)
    s = ProjectSession(Project.create(tmp_path / "p.fewlens"))
    x, y = clusters(10)
    cids = [s.add_class(n) for n in ("A", "B", "C")]
    s.add_images([tmp_path / f"{i}.jpg" for i in range(len(x))], [f"h{i}" for i in range(len(x))], x)
    seen = []
    s.predictionsChanged.connect(lambda: seen.append(s.pred.preview))
    s.set_method("softkmeans")
    for c in range(3):
        s.set_labels([int(s.ids[r]) for r in np.flatnonzero(y == c)[:2]], cids[c])
    qtbot.waitUntil(lambda: s.predictions_current, timeout=20_000)
    assert True in seen and seen[-1] is False and not s.refining  # preview first, the chosen method last
    assert (s.pred.top == np.array(cids)[y]).mean() > 0.9
    assert live_model.INSTANT_METHOD == "protonet"
    s.close()
