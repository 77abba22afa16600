"""Issue 10: Help menu, first-run welcome, grouped pickers — what a new user sees."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from app.widgets.pickers import TOGGLE  # noqa: E402
from app.widgets.welcome import welcome_due  # noqa: E402
from core import __version__  # noqa: E402
from core.project import Project  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(ProjectSession(Project.create(tmp_path / "p.fewlens")))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _entries(combo):
    m = combo.model()
    return [(m.item(r).text().strip(), m.item(r).isEnabled(), combo.itemData(r)) for r in range(combo.count())]


def test_help_menu_has_the_three_pages(qtbot, window):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[-1] == "Help"
    dlg = window.show_help("About")
    assert dlg.tabs.tabText(dlg.tabs.currentIndex()) == "About"
    about = dlg.tabs.currentWidget().toPlainText()
    assert f"FewLens {__version__}" in about and "Apache" in about and "Third-party notices" in about
    assert "MobileNetV2" in about  # the license of the model in use
    dlg.show_tab("Keyboard shortcuts")
    keys = dlg.tabs.currentWidget().toPlainText()
    assert "Label the selected images" in keys and "Ctrl+Z" in keys
    dlg.show_tab("How FewLens works")
    assert "Label a few" in dlg.tabs.currentWidget().toPlainText()


def test_method_picker_groups_and_hides_research_methods_until_show_all(qtbot, window):
    combo = window.method_combo
    entries = _entries(combo)
    assert entries[0] == ("RECOMMENDED", False, None)  # a header, not selectable
    values = [v for _t, _e, v in entries if v]
    assert values[:3] == ["auto", "softkmeans", "protonet"] and "relation" not in values and values[-1] == TOGGLE
    assert combo.currentData() == window.session.method == "auto"
    assert "(default)" in combo.itemText(combo.findData("auto"))
    for r in range(combo.count()):
        if combo.itemData(r) == "protonet":
            assert "average" in combo.itemData(r, Qt.ItemDataRole.ToolTipRole)  # plain help
    combo.setCurrentIndex(combo.findData(TOGGLE))  # "Show all (n more)…"
    values = [v for _t, _e, v in _entries(combo) if v]
    assert {"relation", "siamese", "maml"} <= set(values)
    assert combo.currentData() == "auto" and window.session.method == "auto"
    combo.setCurrentIndex(combo.findData("relation"))
    assert window.session.method == "relation"


def test_method_picker_follows_a_method_set_elsewhere(qtbot, window):
    combo = window.method_combo
    assert combo.currentData() == window.session.method == "auto"
    window.session.set_method("protonet")  # not through the picker (the evaluation view, a script)
    assert combo.currentData() == "protonet"
    window.session.set_method("relation")  # a research method, hidden until "Show all": listed for this project
    assert combo.currentData() == "relation"
    combo.setCurrentIndex(combo.findData("softkmeans"))  # and picking in the combo still sets it
    assert window.session.method == "softkmeans"


def test_backbone_picker_puts_omniglot_models_behind_show_all(qtbot, window):
    from app.jobs import BackboneListJob

    job = BackboneListJob()
    job.run()
    window.pickers._fill_backbones(job)
    combo = window.backbone_combo
    shown = [t for t, _e, v in _entries(combo) if v and v != TOGGLE]
    assert shown[0].startswith("MobileNetV2 · ImageNet") and not any("Omniglot" in t for t in shown)
    assert combo.currentText().strip().startswith("MobileNetV2")
    combo.setCurrentIndex(combo.findData(TOGGLE))
    assert any("Omniglot" in t for t, _e, v in _entries(combo))
    assert window.session.backbone == "mobilenet_v2_imagenet"


def test_welcome_shows_once(qtbot, window):
    assert welcome_due()
    dlg = window.files.show_welcome()
    assert "Label a few" in " ".join(lbl.text() for lbl in dlg.findChildren(type(dlg.wait_note)))
    assert "20 seconds" in dlg.wait_note.text()
    dlg.accept()
    assert not welcome_due()
