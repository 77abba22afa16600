"""Folder names become class names as people write them (issue 10: "Common_Chickweed")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from app.wording import plural, tidy_class_name  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


def test_wording():
    assert tidy_class_name("Common_Chickweed") == "Common Chickweed"
    assert tidy_class_name("black-grass") == "black grass" and tidy_class_name("Hat") == "Hat"
    assert plural(1, "class") == "1 class" and plural(2, "class") == "2 classes"
    assert plural(1, "image") == "1 image" and plural(1200, "image") == "1,200 images"


@pytest.mark.parametrize("tidy", [True, False])
def test_subfolder_names_are_tidied_unless_the_user_says_no(qtbot, tmp_path, tidy):
    photos = tmp_path / "photos"
    shutil.copytree(MINI / "Hat", photos / "Sun_Hat")
    shutil.copytree(MINI / "Pants", photos / "cargo-pants")
    w = MainWindow(ProjectSession(Project.create(tmp_path / "p.fewlens")))
    qtbot.addWidget(w)
    w.tidy_folder_names = tidy  # the dialog's check box
    w.imports.ask_use_subfolders = lambda names: True
    w.imports.import_paths([photos])
    qtbot.waitUntil(lambda: len(w.session) == 12 and not w.jobs, timeout=60_000)
    names = sorted(c.name for c in w.session.classes)
    assert names == (["Sun Hat", "cargo pants"] if tidy else ["Sun_Hat", "cargo-pants"])
    w.close()
