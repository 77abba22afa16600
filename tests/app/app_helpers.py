"""What several window tests start from: clothing_mini (3 classes x 6 photos) imported into a new
project with its folder names as labels, and "the window has settled"."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.main_window import MainWindow
from app.session import ProjectSession
from core.project import Project

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


def idle(w: MainWindow) -> bool:
    s = w.session
    return not w.jobs and s.pending_embeddings == 0 and s.predictions_current


def imported_window(qtbot, tmp_path: Path, monkeypatch) -> MainWindow:
    """A shown window on a new project holding a copy of clothing_mini (``w.photos``), all 18
    photos labeled by their folder names and embedded."""
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    photos = tmp_path / "photos"
    shutil.copytree(MINI, photos)
    path = tmp_path / "p.fewlens"
    Project.create(path).close()
    w = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.imports.ask_use_subfolders = lambda names: True
    w.imports.import_paths([photos])
    qtbot.waitUntil(lambda: len(w.session) == 18 and idle(w), timeout=60_000)
    w.photos = photos
    return w
