"""The window adapts the backbone to the user's labels in the background (issue 5's default).

Driven on the real window with clothing_mini (3 classes x 6 photos) and real MobileNetV2
adaptation, made cheap (2 steps, 2 views per image) and with a short debounce.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("torch")

from PySide6.QtCore import Qt  # noqa: E402

from app.jobs.adapt import AdaptJob  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.adaptation import ADAPTED_TEMPERATURE_SCALE, MIN_SHOTS, AdaptationSettings  # noqa: E402
from core.live_model import UNLABELED, auto_unknown_threshold, confidence_calibration, fit_predict  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"
CLASSES = ["Hat", "Pants", "Shoes"]
DEBOUNCE = 300  # ms; the app waits 1.5 s
K = MIN_SHOTS  # labels per class at which the backbone adapts (clothing_mini has 6 photos per class)


def idle(window: MainWindow) -> bool:
    s = window.session
    return not window.jobs and s.pending_embeddings == 0 and s.predictions_current


def open_window(qtbot, path: Path) -> MainWindow:
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.adapter.settings = AdaptationSettings(steps=2, views=2)
    window.adapter.timer.setInterval(DEBOUNCE)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """clothing_mini imported unlabeled, the three classes added, nothing labeled yet."""
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    photos = tmp_path / "photos"
    shutil.copytree(MINI, photos)
    path = tmp_path / "p.fewlens"
    Project.create(path).close()
    w = open_window(qtbot, path)
    w.imports.ask_use_subfolders = lambda names: False
    w.imports.import_paths([photos])
    qtbot.waitUntil(lambda: len(w.session) == 18 and idle(w), timeout=60_000)
    for name in CLASSES:
        assert w.class_actions.add_class(name) is not None
    w.project_path = path
    yield w
    w.close()


def truth(s: ProjectSession) -> dict[str, list[int]]:
    """Class name -> image ids, in id order (from the photos' folder names)."""
    out: dict[str, list[int]] = {c: [] for c in CLASSES}
    for i, f in zip(s.ids, s.files):
        out[Path(f).parent.name].append(int(i))
    return out


def label(window: MainWindow, per_class: dict[str, int]) -> None:
    """Label the first n photos of each class, the way the window's commands do."""
    s = window.session
    ids = truth(s)
    for c in s.classes:
        s.set_labels(ids[c.name][: per_class[c.name]], c.id)


def frozen_top(s: ProjectSession) -> np.ndarray:
    return fit_predict(s.method, s.emb.data, s.emb.have, s.labels).top


def test_enough_labels_per_class_adapt_the_features_in_the_background(qtbot, window):
    w, s = window, window.session
    # one Hat photo becomes unreadable after it was embedded: the adaptation names it and goes on
    bad = Path(s.files[s.row_of(truth(s)["Hat"][0])])
    # the status bar refreshes on a short coalescing timer: wait for it rather than race it
    qtbot.waitUntil(lambda: f"adapts at {K} labels per class" in w.status_features.text(), timeout=5_000)
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000) as started:
        label(w, {"Hat": K + 1, "Pants": K, "Shoes": K})
        bad.write_bytes(b"not a jpeg")
    job: AdaptJob = started.args[0]
    assert w.banner.isVisible() and w.banner.label.text() == "Adapting the model to your labels…"
    assert not s.adapted_in_use  # until it lands, the pretrained features as before
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)

    assert job.result is s.adapted and not w.banner.isVisible()
    assert s.adapted.n_labels == 3 * K  # 3K + 1 labeled, 1 unreadable
    qtbot.waitUntil(lambda: w.status_features.text() == f"Features adapted to {3 * K} labels", timeout=2_000)
    assert w.report.isVisible() and w.report.file_names() == [bad.name]
    a = s.adapted.matrix
    readable = ~s.adapted.unreadable
    assert list(s.adapted.unreadable.nonzero()[0]) == [s.row_of(truth(s)["Hat"][0])]
    assert a.have[readable].all() and not np.allclose(a.data[readable], s.emb.data[readable], atol=1e-3)
    # predictions come from the adapted vectors, not the frozen ones
    assert s.active_embeddings() is a
    assert s.method_kwargs() == {"temperature_scale": ADAPTED_TEMPERATURE_SCALE}  # recalibrated confidence
    # no per-project factor on adapted features (the backbone was trained on the labeled photos, and
    # the pretrained features' factor measured wrong for them): the offline adapted fit alone
    assert s.pred.confidence_factor == 1.0
    adapted = fit_predict(s.method, a.data, a.have, s.labels, method_kwargs=s.method_kwargs())
    assert np.allclose(s.pred.probs, adapted.probs, atol=1e-5)
    factor = confidence_calibration(s.method, s.emb.data, s.emb.have, s.labels).factor
    frozen = fit_predict(s.method, s.emb.data, s.emb.have, s.labels, confidence_factor=factor)
    assert not np.allclose(s.pred.probs, frozen.probs, atol=1e-3)
    assert s.auto_threshold and s.pred.auto_threshold == pytest.approx(auto_unknown_threshold(s.pred, s.labels))
    assert s.labeled_count == 3 * K + 1

    # Try it on a project photo says what the gallery says: it uses the adapted network too
    row = int(np.flatnonzero(s.labels == UNLABELED)[0])
    dialog = w.show_try_it()
    dialog.try_paths([Path(s.files[row])])
    qtbot.waitUntil(lambda: len(dialog.results) == 1 and not dialog.job.running, timeout=30_000)
    top = dialog.results[0].top
    assert top[0][0] == s.pred.top[row]
    assert top[0][1] == pytest.approx(float(s.pred.confidence[row]), abs=1e-3)
    dialog.close()


def test_fewer_labels_fall_back_and_new_labels_apply_at_once(qtbot, window):
    w, s = window, window.session
    label(w, {"Hat": K, "Pants": K, "Shoes": K})
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)
    first = s.adapted
    ids = truth(s)
    hat = s.class_by_id(s.labels[s.row_of(ids["Hat"][0])])

    # K - 1 Hats: the pretrained features at once, and nothing to adapt to
    s.set_labels([ids["Hat"][K - 1]], None)
    assert not s.adapted_in_use and s.active_embeddings() is s.emb
    qtbot.waitUntil(lambda: idle(w), timeout=10_000)
    assert (s.pred.top == frozen_top(s)).all()
    qtbot.waitUntil(lambda: w.status_features.text() == f"Pretrained features · adapts at {K} labels per class",
                    timeout=2_000)
    qtbot.wait(2 * DEBOUNCE)
    assert not w.adapter.running

    # back to K: the adaptation made for exactly these labels applies again, no new job
    s.set_labels([ids["Hat"][K - 1]], hat.id)
    assert s.adapted is first and s.adapted_in_use
    qtbot.wait(2 * DEBOUNCE)
    assert not w.adapter.running

    # one more Hat: predicted with the adapted features right away, and no ~35 s re-adaptation for
    # one more label (issue 10): the method refits on the adapted features
    s.set_labels([ids["Hat"][K]], hat.id)
    assert s.adapted is first and s.adapted_in_use
    qtbot.wait(2 * DEBOUNCE)
    assert not w.adapter.running and s.adapted is first

    # correcting a label it was trained on teaches it something else: adapt again (3K + 1 labels)
    shoes = s.class_by_id(s.labels[s.row_of(ids["Shoes"][0])])
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000):
        s.set_labels([ids["Hat"][0]], shoes.id)
        assert s.adapted_in_use  # the old adapted features serve while the new ones train
    qtbot.waitUntil(lambda: s.adapted is not first and idle(w), timeout=60_000)
    assert s.adapted_in_use and s.adapted.n_labels == 3 * K + 1
    assert s.adapted.fingerprint != first.fingerprint

    # removing a photo changes the rows: pretrained features until the next adaptation lands
    s.remove_images([ids["Pants"][5]])
    assert s.adapted is None and s.active_embeddings() is s.emb
    qtbot.waitUntil(lambda: w.status_features.text().startswith("Pretrained features"), timeout=2_000)


def test_cancel_keeps_pretrained_predictions_and_every_label(qtbot, window):
    w, s = window, window.session
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000) as started:
        label(w, {"Hat": K, "Pants": K, "Shoes": K})
    job: AdaptJob = started.args[0]
    qtbot.mouseClick(w.banner.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.adapter.running and idle(w), timeout=30_000)
    assert job.cancelled and job.result is None
    assert s.adapted is None and not s.adapted_in_use
    assert (s.pred.top == frozen_top(s)).all()
    assert s.labeled_count == 3 * K and not w.banner.isVisible()
    qtbot.waitUntil(lambda: w.status_features.text() == "Pretrained features", timeout=2_000)
    # not restarted behind the user's back, and the labels are on disk
    qtbot.wait(2 * DEBOUNCE)
    assert not w.adapter.running
    assert len(s.project.labels()) == 3 * K
    # switching it off and on again is asking again
    w.act_adapt.trigger()
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000):
        w.act_adapt.trigger()
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)


def test_switched_off_nothing_adapts(qtbot, window):
    w, s = window, window.session
    assert w.act_adapt.isChecked()
    w.act_adapt.trigger()  # Model > Adapt the backbone to my labels (K+ per class)
    assert not w.act_adapt.isChecked() and not s.adapt_enabled
    started = []
    w.adapter.jobStarted.connect(started.append)
    label(w, {"Hat": K + 1, "Pants": K + 1, "Shoes": K + 1})
    qtbot.wait(3 * DEBOUNCE)
    qtbot.waitUntil(lambda: idle(w), timeout=10_000)
    assert started == [] and s.adapted is None
    qtbot.waitUntil(lambda: w.status_features.text() == "Pretrained features", timeout=2_000)
    assert s.project.get_setting("adapt_backbone") is False

    # on again: it adapts; off while it runs: cancelled, pretrained predictions
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000) as got:
        w.act_adapt.trigger()
    w.act_adapt.trigger()
    qtbot.waitUntil(lambda: not w.adapter.running and idle(w), timeout=30_000)
    assert got.args[0].cancelled and s.adapted is None
    assert (s.pred.top == frozen_top(s)).all()


def test_one_more_label_while_adapting_lets_it_finish_a_correction_starts_over(qtbot, window):
    w, s = window, window.session
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000) as first:
        label(w, {"Hat": K, "Pants": K, "Shoes": K})
    label(w, {"Hat": K + 1, "Pants": K, "Shoes": K})  # while the first one runs: it goes on
    assert not first.args[0].is_cancelled()
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)
    assert first.args[0].result is s.adapted and s.adapted.n_labels == 3 * K
    adapted = s.adapted

    # a correction of a label it was trained on, while it runs: that run is dropped, a new one lands
    # (every class keeps K labels: below that it would not adapt at all)
    ids = truth(s)
    hat = s.class_by_id(s.labels[s.row_of(ids["Hat"][0])])
    shoes = s.class_by_id(s.labels[s.row_of(ids["Shoes"][0])])
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=10_000) as second:
        s.set_labels([ids["Hat"][0]], shoes.id)
    with qtbot.waitSignal(w.adapter.jobStarted, timeout=90_000) as third:
        s.set_labels([ids["Shoes"][0]], hat.id)
        assert second.args[0].is_cancelled()
    qtbot.waitUntil(lambda: s.adapted is not adapted and idle(w), timeout=60_000)
    assert second.args[0].result is None and third.args[0].result is s.adapted
    assert s.adapted.n_labels == 3 * K + 1 and s.adapted_in_use


def test_training_images_are_capped_per_class_and_skip_missing_files():
    from core.adapted_features import MAX_TRAIN_PER_CLASS
    from core.adapted_features import training_rows as _training_rows

    labels = np.array([7] * (MAX_TRAIN_PER_CLASS + 36) + [9] * 5 + [UNLABELED] * 4)
    missing = np.zeros(len(labels), bool)
    missing[[0, MAX_TRAIN_PER_CLASS + 36]] = True  # one of each class is gone from disk
    rows = _training_rows(labels, missing)
    assert (labels[rows] == 7).sum() == MAX_TRAIN_PER_CLASS and (labels[rows] == 9).sum() == 4
    assert not missing[rows].any() and (labels[rows] != UNLABELED).all()
