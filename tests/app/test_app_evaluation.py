"""The accuracy estimate and the Evaluation view as a user meets them (issue 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from core.live_model import UNLABELED  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from core.methods import get_method  # noqa: E402
from app_helpers import idle, imported_window  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


def estimate_in(w: MainWindow) -> bool:
    svc = w.evaluation.service
    return idle(w) and svc.result is not None and not svc.stale and svc.job is None


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """clothing_mini imported with its folder names as labels, then 2 of 6 per class unlabeled."""
    w = imported_window(qtbot, tmp_path, monkeypatch)
    s = w.session
    drop = [int(s.ids[r]) for c in s.classes for r in np.flatnonzero(s.labels == c.id)[4:]]
    s.set_labels(drop, None)
    s.set_method("protonet")
    qtbot.waitUntil(lambda: estimate_in(w), timeout=120_000)
    yield w
    w.close()


def brute_force_predictions(s, method: str) -> dict[int, int]:
    """{image id: held-out prediction} for every labeled image, refitting without it each time."""
    rows = np.flatnonzero(s.labels != UNLABELED)
    x, y = s.emb.data[rows], s.labels[rows]
    out = {}
    for k, r in enumerate(rows):
        keep = np.arange(len(rows)) != k
        m = get_method(method).process_support_set(x[keep], y[keep])
        out[int(s.ids[r])] = int(m.classes_[m.predict_proba(x[k : k + 1]).argmax()])
    return out


def test_main_window_shows_the_estimate_of_a_leave_one_out(window):
    s = window.session
    pred = brute_force_predictions(s, "protonet")
    acc = np.mean([pred[i] == s.labels[s.row_of(i)] for i in pred])
    text = window.evaluation.status.full_text()
    assert text.startswith(f"Estimated accuracy {100 * acc:.0f} % ± ")
    assert "from 12 labels" in text


def test_clicking_a_confusion_cell_shows_exactly_those_images(qtbot, window):
    s = window.session
    hat = next(c for c in s.classes if c.name == "Hat")
    shoes = next(c for c in s.classes if c.name == "Shoes")
    # an image of a hat labeled "Shoes": its cell is (Shoes, predicted Hat)
    wrong = int(s.ids[np.flatnonzero(s.labels == hat.id)[0]])
    s.set_labels([wrong], shoes.id)
    qtbot.waitUntil(lambda: estimate_in(window), timeout=120_000)
    pred = brute_force_predictions(s, "protonet")
    view = window.evaluation.show_view()
    qtbot.waitExposed(view)
    view.tabs.setCurrentIndex(1)
    order = [c.id for c in s.classes]  # the matrix lists classes by id, as the project does
    for true_c, pred_c in ((shoes.id, hat.id), (hat.id, hat.id)):
        expected = {i for i, p in pred.items() if s.labels[s.row_of(i)] == true_c and p == pred_c}
        i, j = sorted(order).index(true_c), sorted(order).index(pred_c)
        qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_rect(i, j).center())
        shown = {window.model.image_id(window.model.index(k)) for k in range(window.model.rowCount())}
        assert shown == expected
        assert window.model.filter.kind == "ids"
        assert "predicted" in window.filter_bar.class_button.text()
    assert wrong in {i for i, p in pred.items() if p == hat.id}

    # the same label is listed under "possible mislabels"; one click puts it right (undoable)
    listed = [int(view.mislabels.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in range(view.mislabels.rowCount())]
    assert wrong in listed
    button = view.mislabels.cellWidget(listed.index(wrong), 3)
    assert button.text() == "Relabel as Hat"
    button.click()
    assert s.labels[s.row_of(wrong)] == hat.id
    window.undo_stack.undo()
    assert s.labels[s.row_of(wrong)] == shoes.id


def test_the_chosen_method_is_reported(qtbot, window):
    s = window.session
    k = window.method_combo.findData("auto")
    assert k >= 0
    window.method_combo.setCurrentIndex(k)
    assert s.method == "auto"
    qtbot.waitUntil(lambda: estimate_in(window) and s.pred.chosen is not None, timeout=120_000)
    msg = s.pred.chosen.message()
    assert msg.startswith("Using prototypes") and "on your labels" in msg
    status = window.evaluation.status
    assert msg in status.full_text() and msg in status.toolTip()
    view = window.evaluation.show_view()
    assert view.choice_label.text() == window.session.pred.chosen.message() or \
        view.choice_label.text().startswith("Using prototypes")


def test_label_next_steps_through_unlabeled_suggestions(qtbot, window):
    s = window.session
    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_N)
    f = window.model.filter
    assert f.kind == "ids" and f.title.startswith("Label next")
    rows = [s.row_of(i) for i in f.ids]
    assert len(rows) == 6 and all(s.labels[r] == UNLABELED for r in rows)  # every unlabeled image, once
    first = window.model.image_id(window.gallery.currentIndex())
    assert first == f.ids[0]
    qtbot.keyClick(window.gallery, Qt.Key.Key_N)
    assert window.model.image_id(window.gallery.currentIndex()) == f.ids[1]
    qtbot.keyClick(window.gallery, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert window.model.image_id(window.gallery.currentIndex()) == f.ids[0]


def test_clicking_a_dot_on_the_map_selects_that_image(qtbot, window):
    view = window.evaluation.show_view()
    qtbot.waitExposed(view)
    view.tabs.setCurrentIndex(4)
    qtbot.wait(50)
    pts = view.map.screen_points()
    assert len(pts) == 18 and not np.isnan(pts).any()
    k = 7
    qtbot.mouseClick(view.map, Qt.MouseButton.LeftButton, pos=QPoint(int(pts[k, 0]), int(pts[k, 1])))
    res = window.evaluation.service.result
    shown = [window.model.image_id(window.model.index(r)) for r in range(window.model.rowCount())]
    assert len(shown) == 1
    # the nearest dot to the click: k itself, or another dot painted on the same pixel
    hit = int(np.argmin(np.hypot(*(pts - pts[k].round()).T)))
    assert shown == [int(res.ids[hit])]
    grab = view.map.grab()
    assert not grab.isNull()
