"""Recently opened projects, for the welcome screen and File → Open Recent (core.recent)."""

from __future__ import annotations

import os
from pathlib import Path


def recent_projects() -> list[Path]:
    try:
        from core.recent import recent_projects as _recent

        return [Path(p) for p in _recent()]
    except ImportError:
        return []


def remember_project(path: os.PathLike | str) -> None:
    try:
        from core.recent import add_recent
    except ImportError:
        return
    add_recent(path)
