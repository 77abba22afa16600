"""Issue 10, item 2: the image the detail panel shows is always one that a number key labels.

Driven as a user would: keys and clicks on the real gallery; after every step the panel's image
must be in the selection (or both empty), and a number key must label exactly the selection.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app_helpers import idle, imported_window  # noqa: E402
from app.widgets.gallery import GalleryFilter  # noqa: E402
from core.live_model import UNLABELED  # noqa: E402

C = Qt.KeyboardModifier.ControlModifier
S = Qt.KeyboardModifier.ShiftModifier
N = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = imported_window(qtbot, tmp_path, monkeypatch)
    w.resize(1100, 700)
    w.session.set_labels([int(i) for i in w.session.ids], None)  # all unlabeled, 3 classes exist
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    w.set_filter(GalleryFilter("all"))
    w.gallery.setFocus()
    yield w
    w.close()


def agree(w: MainWindow) -> list[int]:
    sel = w.gallery.selected_ids()
    shown = w.detail.image_id
    if not sel:
        assert shown == -1, "the panel shows an image that no key would label"
        assert w.detail.title.text() == "No image selected"
    else:
        assert shown in sel, f"panel shows {shown}, keys would label {sel}"
        if len(sel) > 1:
            assert f"{len(sel)} selected" in w.detail.subtitle.text()
    return sel


def click(qtbot, w: MainWindow, row: int, mods=N) -> None:
    g = w.gallery
    idx = w.model.index(row)
    g.scrollTo(idx)
    qtbot.mouseClick(g.viewport(), Qt.MouseButton.LeftButton, mods, g.visualRect(idx).center())


def test_every_kind_of_navigation_keeps_panel_and_selection_together(qtbot, window):
    w = window
    g = w.gallery
    steps = [
        ("click", 3, N), ("key", Qt.Key.Key_Right, N), ("key", Qt.Key.Key_Right, C),
        ("key", Qt.Key.Key_Down, C), ("key", Qt.Key.Key_Home, C), ("key", Qt.Key.Key_End, N),
        ("key", Qt.Key.Key_Home, N), ("key", Qt.Key.Key_PageDown, N), ("key", Qt.Key.Key_PageUp, C),
        ("key", Qt.Key.Key_Right, S), ("key", Qt.Key.Key_Right, S), ("key", Qt.Key.Key_Down, S),
        ("click", 10, N), ("click", 12, S), ("click", 5, C), ("click", 12, C), ("click", 10, C),
        ("key", Qt.Key.Key_Left, C), ("key", Qt.Key.Key_Space, C), ("key", Qt.Key.Key_A, C),
        ("click", 7, C),
    ]
    for kind, what, mods in steps:
        if kind == "click":
            click(qtbot, w, what, mods)
        else:
            qtbot.keyClick(g, what, mods)
        agree(w)


def test_the_number_key_labels_the_image_the_panel_shows(qtbot, window):
    """The reported case: Ctrl+Home moved the panel; the key labeled an image off-screen."""
    w = window
    s = w.session
    click(qtbot, w, 9)
    qtbot.keyClick(w.gallery, Qt.Key.Key_Home, C)
    shown = w.detail.image_id
    assert shown == w.model.image_id(w.model.index(0))  # Ctrl+Home went to the first image...
    assert agree(w) == [shown]  # ...and selected it, nothing else
    qtbot.keyClick(w.gallery, Qt.Key.Key_2)
    labeled = [int(i) for i in s.ids if s.labels[s.row_of(int(i))] != UNLABELED]
    assert labeled == [shown]


def test_several_selected_label_all_and_say_so(qtbot, window):
    w = window
    s = w.session
    click(qtbot, w, 2)
    click(qtbot, w, 6, S)
    sel = agree(w)
    assert len(sel) == 5 and "press a number to label all 5" in w.detail.subtitle.text()
    qtbot.keyClick(w.gallery, Qt.Key.Key_1)
    labeled = sorted(int(i) for i in s.ids if s.labels[s.row_of(int(i))] != UNLABELED)
    assert labeled == sorted(sel)


def test_filter_switches_and_reopen_select_what_the_panel_shows(qtbot, window, tmp_path):
    w = window
    s = w.session
    for f in (GalleryFilter("unlabeled"), GalleryFilter("class", s.classes[0].id), GalleryFilter("labeled"),
              GalleryFilter("review"), GalleryFilter("all")):
        w.set_filter(f)
        sel = agree(w)
        assert bool(sel) == bool(w.model.rowCount())
    # Reopening (Open recent): the first tile is selected *and* shown, and keys work on it.
    path = s.path
    w.files.open_project(path, wait=True)
    qtbot.waitUntil(lambda: w.session is not s and idle(w), timeout=30_000)
    sel = agree(w)
    assert len(sel) == 1 and w.detail.image_id == sel[0]
    qtbot.keyClick(w.gallery, Qt.Key.Key_3)
    s2 = w.session
    assert s2.labels[s2.row_of(sel[0])] == s2.classes[2].id


def test_labeling_in_unlabeled_moves_on_and_panel_follows(qtbot, window):
    w = window
    s = w.session
    w.set_filter(GalleryFilter("unlabeled"))
    first = agree(w)
    qtbot.keyClick(w.gallery, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: w.gallery.selected_ids() and w.gallery.selected_ids() != first, timeout=5000)
    nxt = agree(w)
    assert len(nxt) == 1 and s.labels[s.row_of(nxt[0])] == UNLABELED


def test_needs_review_starts_at_the_least_sure_and_moves_to_the_next_least_sure(qtbot, window):
    w = window
    s = w.session
    ids = [int(i) for i in s.ids]
    for k, c in enumerate(s.classes):  # two labels per class: predictions with spread confidences
        s.set_labels(ids[6 * k:6 * k + 2], c.id)
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    click(qtbot, w, 9)  # an image in the middle of the review list is selected before switching
    w.set_filter(GalleryFilter("review"))
    rows = w.model.rows
    conf = s.pred.confidence[rows]
    assert (conf[:-1] <= conf[1:]).all()  # least sure first
    sel = agree(w)
    assert sel == [w.model.image_id(w.model.index(0))], "review must start at the least sure image"
    assert w.gallery.verticalScrollBar().value() == 0
    for _ in range(3):
        # labeling moves on to the next least sure as ranked when the key was pressed ...
        ranked = [int(s.ids[r]) for r in w.model.rows]
        qtbot.keyClick(w.gallery, Qt.Key.Key_1)
        assert s.labels[s.row_of(sel[0])] == s.classes[0].id
        nxt = agree(w)
        assert nxt == [next(i for i in ranked if i != sel[0])], "the next least sure image is shown"
        qtbot.waitUntil(lambda: idle(w), timeout=20_000)
        # ... and the refitted model re-sorts the list without taking that image from under the user
        rows = w.model.rows
        conf = s.pred.confidence[rows]
        assert (conf[:-1] <= conf[1:]).all()
        assert agree(w) == nxt and w.detail.image_id == nxt[0]
        sel = nxt


def test_one_labeled_class_says_a_second_is_needed(qtbot, window):
    w = window
    s = w.session
    s.set_labels([int(s.ids[0]), int(s.ids[1])], s.classes[0].id)
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    click(qtbot, w, 8)
    qtbot.waitUntil(lambda: "second class" in w.detail.status.text(), timeout=5_000)
    qtbot.waitUntil(lambda: "label a second one" in w.status_counts.text(), timeout=5_000)
    s.set_labels([int(s.ids[6])], s.classes[1].id)
    qtbot.waitUntil(lambda: idle(w) and "second" not in w.detail.status.text(), timeout=20_000)
    qtbot.waitUntil(lambda: "label a second one" not in w.status_counts.text(), timeout=5_000)
