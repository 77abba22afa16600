"""A build without torch (the light bundle) says plainly, where the setting is, that it cannot adapt."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import core.self_test as self_test  # noqa: E402
from app.widgets.help import about_html  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.project import Project  # noqa: E402


def _window(qtbot, tmp_path) -> MainWindow:
    w = MainWindow(ProjectSession(Project.create(tmp_path / "p.fewlens")))
    qtbot.addWidget(w)
    return w


def test_without_torch_the_adapt_setting_is_off_and_says_why(qtbot, tmp_path, monkeypatch):
    has = self_test._has
    monkeypatch.setattr(self_test, "_has", lambda m: m != "torch" and has(m))
    w = _window(qtbot, tmp_path)
    assert not w.act_adapt.isEnabled()
    assert "has no torch, so it cannot adapt the backbone to your labels" in w.act_adapt.toolTip()
    assert w.adaptation.features_text() == "Pretrained features · no adaptation in this build (Help ▸ About)"
    about = about_html(None)
    assert "What this build cannot do" in about and "cannot export models" in about


def test_with_torch_nothing_is_said(qtbot, tmp_path):
    pytest.importorskip("torch")
    w = _window(qtbot, tmp_path)
    assert w.act_adapt.isEnabled()
    assert "torch" not in w.act_adapt.toolTip() and "no adaptation" not in w.adaptation.features_text()
    assert ("What this build cannot do" in about_html(None)) == (not self_test._has("cv2"))
