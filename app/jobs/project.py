"""Opening, saving a copy of, and relinking a project's files in the background."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal

from core.errors import FewLensError

from .base import Job


class OpenProjectJob(Job):
    """Open a project file and read its image table off the UI thread."""

    title = "Opening project"

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.project = None
        self.rows = None
        self.damaged = False  # the file is a damaged project: recovery can be offered

    def run(self) -> None:
        from core.project import Project

        self.status.emit(f"Opening {self.path.name}…")
        try:
            project = Project.open_any(self.path)  # read-only files open read-only
        except FewLensError as e:
            self.damaged = bool(getattr(e, "damaged", False))
            raise
        self._read(project)

    def _read(self, project) -> None:
        """Keep ``project`` with its image table, or close it if reading fails."""
        from core.live_model import read_project_rows

        self.project = project
        try:
            self.rows = read_project_rows(project)
        except FewLensError as e:
            self.damaged = bool(getattr(e, "damaged", False))
            project.close()
            self.project = None
            raise
        except BaseException:
            project.close()
            self.project = None
            raise


class SaveAsJob(OpenProjectJob):
    """Copy the open project to a new file (SQLite backup: consistent even while it changes),
    then read the copy, which the window switches to."""

    title = "Saving a copy"

    def __init__(self, source, path: Path):
        super().__init__(path)
        self.source = source  # the open core.project.Project

    def run(self) -> None:
        self.status.emit(f"Saving {self.path.name}…")
        self._read(self.source.save_as(self.path, overwrite=True))


class LocateJob(Job):
    """Relink missing files under a folder by content hash."""

    title = "Locating missing files"
    relinked = Signal(int)

    def __init__(self, session, folder: Path):
        super().__init__()
        self.session = session
        self.folder = folder
        self.count = 0

    def run(self) -> None:
        self.status.emit(f"Looking in {self.folder}…")
        self.count = self.session.relocate(self.folder, progress=lambda d, t: self.progress.emit(d, t))
