"""The app shows the calibrated confidence, and its automatic threshold is the target-error one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from core.live_model import (  # noqa: E402
    UNLABELED,
    auto_threshold_help,
    auto_unknown_threshold,
    confidence_calibration,
    fit_predict,
)
from app.session import ProjectSession  # noqa: E402
from core.methods.calibration import TARGET_ERROR, power_scale, threshold_for_error  # noqa: E402
from core.project import Project  # noqa: E402

DIM = 24


@pytest.fixture
def session(tmp_path, qtbot):
    """4 heavily overlapping classes x 40 images, 6 labeled per class: about half the predictions right."""
    rng = np.random.default_rng(3)
    means = rng.normal(0, 1, (4, DIM))
    x = np.concatenate([m + rng.normal(0, 3.5, (40, DIM)) for m in means]).astype(np.float32)
    y = np.repeat(np.arange(4), 40)
    s = ProjectSession(Project.create(tmp_path / "c.fewlens"))
    cids = [s.add_class(n) for n in ("A", "B", "C", "D")]
    s.add_images([tmp_path / f"{i}.jpg" for i in range(len(y))], [f"h{i}" for i in range(len(y))], x)
    for c in range(4):
        s.set_labels([int(s.ids[r]) for r in np.flatnonzero(y == c)[:6]], cids[c])
    qtbot.waitUntil(lambda: s.predictions_current and s.pred.generation > 0, timeout=20_000)
    yield s
    s.close()


def test_shown_confidence_is_the_calibrated_one(session):
    """The default ``auto``: the temperature it fitted on the held-out labels (its own cross-validation)."""
    from core.evaluation.choice import apply_power, choose_model

    s = session
    assert s.method == "auto" and s.pred.chosen is not None
    lab = s.labels != UNLABELED
    pool = s.emb.data[~lab]
    expected = choose_model(s.emb.data[lab], s.labels[lab], pool)
    t = s.pred.chosen.temperature_power
    assert s.pred.chosen.method == expected.method and t == pytest.approx(expected.temperature_power)
    assert t != pytest.approx(1.0, abs=0.05)  # this project moves it: the test can tell
    assert s.pred.confidence_factor == 1.0  # no second calibration on top of it
    raw = fit_predict(s.pred.chosen.method, s.emb.data, s.emb.have, s.labels)
    np.testing.assert_allclose(s.pred.probs[~lab], apply_power(raw.probs[~lab], t), atol=1e-5)


def test_shown_confidence_of_a_chosen_method_is_the_calibrated_one(session, qtbot):
    s = session
    s.set_method("softkmeans")
    qtbot.waitUntil(lambda: s.predictions_current, timeout=20_000)
    factor = confidence_calibration(s.method, s.emb.data, s.emb.have, s.labels).factor
    assert factor != pytest.approx(1.0, abs=0.05)  # this project moves it: the test can tell
    assert s.pred.confidence_factor == pytest.approx(factor)
    raw = fit_predict(s.method, s.emb.data, s.emb.have, s.labels)
    np.testing.assert_allclose(s.pred.probs, power_scale(raw.probs, factor), atol=1e-5)
    row = int(np.flatnonzero(s.labels == UNLABELED)[0])
    assert s.image_row(row).confidence == pytest.approx(float(power_scale(raw.probs, factor)[row].max()), abs=1e-5)


def test_auto_threshold_is_the_target_error_one(session):
    s = session
    unl = s.labels == UNLABELED
    expected = threshold_for_error(s.pred.confidence[unl], TARGET_ERROR)
    assert s.auto_threshold and s.pred.auto_threshold == pytest.approx(expected)
    assert s.pred.auto_threshold == pytest.approx(auto_unknown_threshold(s.pred, s.labels))
    assert 0 < s.pred.auto_threshold < 1  # overlapping classes: some, not all, flagged
    kept = unl & ~s.unknown
    assert 0 < kept.sum() < unl.sum()
    # what the Auto mode promises: the images not flagged are expected to be right >= 1 - target
    assert (1 - s.pred.confidence[kept]).mean() <= TARGET_ERROR + 1e-6
    text = auto_threshold_help(s.pred.auto_threshold)
    assert f"{round(100 * (1 - TARGET_ERROR))}% of the time" in text and f"{s.pred.auto_threshold:.0%}" in text
