"""The gallery, the classes panel and the detail view, driven as a user drives them.

The window is real (its wiring is what the user meets); the embeddings are made up, so no
backbone runs: these tests are about the widgets, not the recognition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QApplication, QColorDialog, QLineEdit  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from app.widgets.classes_panel import ClassIdRole, CountsRole  # noqa: E402
from core.live_model import UNLABELED  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def window(qtbot, tmp_path):
    photos = sorted((MINI / "Hat").glob("*.jpg"))[:3] + sorted((MINI / "Shoes").glob("*.jpg"))[:3]
    s = ProjectSession(Project.create(tmp_path / "w.fewlens"))
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(photos), 8)).astype(np.float32)
    s.add_images(photos, [f"h{i}" for i in range(len(photos))], vecs)
    for name in ("Hat", "Shoes"):
        s.add_class(name)
    w = MainWindow(s)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _click_tile(qtbot, window, row: int) -> int:
    g = window.gallery
    index = window.model.index(row)
    qtbot.mouseClick(g.viewport(), Qt.MouseButton.LeftButton, pos=g.visualRect(index).center())
    return window.model.image_id(index)


def test_clicking_a_tile_shows_that_image_in_the_detail_view(qtbot, window):
    image_id = _click_tile(qtbot, window, 4)
    s = window.session
    name = Path(s.files[s.row_of(image_id)]).name
    qtbot.waitUntil(lambda: window.detail.image_id == image_id, timeout=5000)
    assert window.detail.title.text() == name
    assert window.gallery.selected_ids() == [image_id]


def test_a_number_key_labels_the_focused_image_and_the_panel_counts_it(qtbot, window):
    image_id = _click_tile(qtbot, window, 1)
    shoes = window.session.classes[1]
    qtbot.keyClick(window.gallery, Qt.Key.Key_2)  # the second class's key
    s = window.session
    assert s.labels[s.row_of(image_id)] == shoes.id
    item = window.classes_panel.item_for(shoes.id)
    assert item.data(CountsRole)[0] == 1  # one labeled image shown next to the class
    qtbot.keyClick(window.gallery, Qt.Key.Key_0)  # 0 takes the label off again
    assert s.labels[s.row_of(image_id)] == UNLABELED
    window.undo_stack.undo()  # and Undo puts it back
    assert s.labels[s.row_of(image_id)] == shoes.id


def test_renaming_a_class_in_the_panel_renames_it_and_undo_restores_it(qtbot, window):
    panel = window.classes_panel
    hat = window.session.classes[0]
    panel.start_rename(hat.id)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "Caps")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next turn of the event loop
    qtbot.waitUntil(lambda: window.session.class_by_id(hat.id).name == "Caps", timeout=5000)
    assert window.session.project.class_info(hat.id).name == "Caps"  # saved in the project
    assert panel.item_for(hat.id).text() == "Caps"
    window.undo_stack.undo()
    assert window.session.class_by_id(hat.id).name == "Hat" and panel.item_for(hat.id).text() == "Hat"


def test_recoloring_a_class_from_its_menu_sets_the_picked_color(qtbot, window, monkeypatch):
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#123456")))
    shoes = window.session.classes[1]
    window.classes_panel.colorRequested.emit(shoes.id)  # what "Change color…" in its menu sends
    assert window.session.class_by_id(shoes.id).color.upper() == "#123456"
    assert window.session.project.class_info(shoes.id).color.upper() == "#123456"


def test_clicking_a_class_shows_only_its_images(qtbot, window):
    s = window.session
    hat = s.classes[0]
    labeled = [int(s.ids[0]), int(s.ids[2])]
    s.set_labels(labeled, hat.id)
    panel = window.classes_panel
    item = panel.item_for(hat.id)
    rect = panel.list.visualItemRect(item)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert item.data(ClassIdRole) == hat.id
    shown = sorted(window.model.image_id(window.model.index(r)) for r in range(window.model.rowCount()))
    assert shown == sorted(labeled)


def test_the_status_estimate_elides_in_a_crowded_bar_and_shows_all_again_with_room(qtbot):
    from app.widgets.status_button import StatusButton

    b = StatusButton()
    qtbot.addWidget(b)
    text = "Estimated accuracy 84 % ± 6, from 25 labels  ·  Using prototypes + unlabeled images: +4 points on your labels"
    b.set_status(text)
    b.show()
    qtbot.waitExposed(b)
    b.resize(b.sizeHint().width() // 2, b.height())
    qtbot.waitUntil(lambda: b.shown_text().endswith("…"), timeout=2_000)
    shown = b.shown_text()
    assert text.startswith(shown[:-1]) and shown.startswith("Estimated accuracy") and b.full_text() == text
    assert text in b.toolTip()  # the whole text is one hover away
    assert b.minimumSizeHint().width() < b.sizeHint().width() // 2  # the bar may squeeze it
    b.resize(b.sizeHint())
    qtbot.waitUntil(lambda: b.shown_text() == text, timeout=2_000)



def test_the_task_banner_elides_its_text_in_a_crowded_status_bar_instead_of_cutting_it(qtbot):
    """On a real display the status bar gave the banner less than its text: it showed
    'Adapting the model to your la'.  Squeezed, it says as much as fits and ends in '…'."""
    from PySide6.QtWidgets import QMainWindow

    from app.widgets.task_banner import TaskBanner

    win = QMainWindow()
    qtbot.addWidget(win)
    banner = TaskBanner()
    win.statusBar().addPermanentWidget(banner)
    banner._set_text("Adapting the model to your labels…")
    banner.show()
    win.resize(900, 300)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: banner.label.text() == "Adapting the model to your labels…", timeout=2_000)
    win.statusBar().addPermanentWidget(_Wide())  # a neighbour that takes most of the bar
    win.resize(600, 300)
    qtbot.waitUntil(lambda: banner.label.text().endswith("…") and banner.label.text() != banner.label.full_text(),
                    timeout=2_000)
    shown = banner.label.text()
    assert shown.startswith("Adapting") and "Adapting the model to your labels…".startswith(shown[:-1])
    fm = banner.label.fontMetrics()
    assert fm.horizontalAdvance(shown) <= banner.label.width()  # all of it visible: nothing cut
    assert banner.label.toolTip() == "Adapting the model to your labels…"


class _Wide(__import__("PySide6.QtWidgets", fromlist=["QLabel"]).QLabel):
    def __init__(self):
        super().__init__("x" * 10)

    def sizeHint(self):  # noqa: N802
        from PySide6.QtCore import QSize

        return QSize(300, 10)

    def minimumSizeHint(self):  # noqa: N802
        return self.sizeHint()


def test_a_running_task_keeps_its_whole_text_and_cancel_in_a_full_status_bar(window, qtbot):
    """On a 1440 px display, during adaptation, the banner showed 'Adapting t' and the device label
    was pushed off the bar: the estimate button never shrank below its text.  Now the bar's other
    texts elide (their whole text stays readable via text() and the tooltip) and the task keeps its room."""
    from app.widgets.task_banner import TaskBanner

    w = window
    w.resize(1440, 800)
    w.evaluation.status.set_status("Estimated accuracy 47 % ± 18, from 30 labels  ·  2 classes often confused: "
                                   "Hat and Shoes, label more of them")
    w.status_counts.setText("72 images  ·  30 labeled  ·  6 classes  ·  37 unknown  ·  label a second one")
    w.status_features.setText("Pretrained features · adapting…")
    w.status_device.setText("CPU · ONNX Runtime")
    banner: TaskBanner = w.banner
    banner._set_text("Adapting the model to your labels…")
    banner.count.setText("76 / 152")
    banner.show()
    sb = w.statusBar()
    qtbot.waitUntil(lambda: banner.label.shown_text() == "Adapting the model to your labels…", timeout=3_000)
    qtbot.waitUntil(lambda: w.evaluation.status.shown_text().endswith("…"), timeout=3_000)  # it gave way
    for widget in (banner, w.status_features, w.status_device, w.status_counts):
        right = widget.mapTo(sb, widget.rect().topRight()).x()
        assert widget.isVisible() and widget.width() > 0 and right <= sb.width(), widget
    assert banner.cancel_button.isVisible() and banner.cancel_button.width() >= banner.cancel_button.sizeHint().width()
    # an elided label still reports its whole text, and says it on hover
    w.resize(1000, 800)
    qtbot.waitUntil(lambda: w.status_counts.shown_text() != w.status_counts.text(), timeout=3_000)
    assert w.status_counts.text().endswith("label a second one")
    assert w.status_counts.toolTip().startswith(w.status_counts.text())
