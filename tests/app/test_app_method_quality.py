"""Issue 18: the method picker shows each method's measured quality (from its shipped model's JSON
sidecar) and does not offer a method whose shipped model measured worse than the stated ceiling."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

import core.meta.checkpoints as checkpoints  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.widgets.pickers import MAX_SHIPPED_LAKE_ERROR_PCT, TOGGLE  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.meta.checkpoints import bundled_checkpoints, record_measurement  # noqa: E402
from core.project import Project  # noqa: E402


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Shipped Omniglot models in a scratch assets folder: relation measured good, siamese bad,
    maml never measured."""
    src = bundled_checkpoints()["omniglot_conv4_protonet"]
    d = tmp_path / "assets" / "models" / "omniglot"
    d.mkdir(parents=True)
    for m in ("relation", "siamese", "maml"):
        shutil.copy(src, d / f"omniglot_conv4_{m}.pt")
    record_measurement(d / "omniglot_conv4_relation.pt",
                       {"lake_error_pct": 9.75, "errors": 39, "queries": 400, "lake_error_ci95_pct": [7.2, 13.1]})
    record_measurement(d / "omniglot_conv4_siamese.pt",
                       {"lake_error_pct": MAX_SHIPPED_LAKE_ERROR_PCT + 0.25, "errors": 82, "queries": 400})
    monkeypatch.setattr(checkpoints, "assets_dir", lambda: Path(tmp_path / "assets"))
    return d


def _values(combo):
    return [combo.itemData(r) for r in range(combo.count()) if combo.itemData(r)]


def test_picker_tooltips_carry_the_measured_score_and_bad_models_are_not_offered(qtbot, tmp_path, shipped):
    w = MainWindow(ProjectSession(Project.create(tmp_path / "p.fewlens")))
    qtbot.addWidget(w)
    w.show()
    combo = w.method_combo
    combo.setCurrentIndex(combo.findData(TOGGLE))  # "Show all": the research methods too
    values = _values(combo)
    assert "relation" in values and "maml" in values
    assert "siamese" not in values  # its shipped model measured above the ceiling
    tip = combo.itemData(combo.findData("relation"), Qt.ItemDataRole.ToolTipRole)
    assert "9.8 % wrong (39/400, 95 % interval 7.2-13.1 %)" in tip and "Omniglot" in tip
    # no measurement recorded: the plain help only
    assert "wrong" not in combo.itemData(combo.findData("maml"), Qt.ItemDataRole.ToolTipRole)
    w.close()


def test_a_re_exported_model_loses_its_old_score(qtbot, tmp_path, shipped):
    rel = shipped / "omniglot_conv4_siamese.pt"
    rel.write_bytes(rel.read_bytes() + b"\0")  # other weights: the bad score no longer applies
    w = MainWindow(ProjectSession(Project.create(tmp_path / "p.fewlens")))
    qtbot.addWidget(w)
    w.show()
    combo = w.method_combo
    combo.setCurrentIndex(combo.findData(TOGGLE))
    assert "siamese" in _values(combo)
    w.close()


def test_a_project_made_with_a_method_no_longer_offered_keeps_it(qtbot, tmp_path, shipped):
    project = Project.create(tmp_path / "p.fewlens")
    project.set_setting("method", "siamese")  # chosen before its shipped model was measured bad
    session = ProjectSession(project)
    w = MainWindow(session)
    qtbot.addWidget(w)
    w.show()
    combo = w.method_combo
    assert combo.currentData() == "siamese" and session.method == "siamese"
    assert "not recommended" in combo.currentText()
    assert "no longer offered" in combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    # once the user picks another, the bad one is gone from the list
    combo.setCurrentIndex(combo.findData("protonet"))
    assert session.method == "protonet"
    combo.setCurrentIndex(combo.findData(TOGGLE))
    assert "siamese" not in _values(combo)
    w.close()
