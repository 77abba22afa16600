"""Opening, creating and saving projects, the welcome screen and the export dialog."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QMessageBox

from core.errors import FewLensError
from core.project import Project

from .. import file_dialogs
from ..jobs import OpenProjectJob, SaveAsJob
from ..recent import recent_projects
from ..reliability import project_open_failed
from ..session import ProjectSession
from ..widgets.welcome import WelcomeDialog

PROJECT_FILTER = "FewLens projects (*.fewlens)"


class ProjectFiles:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    def open_project(self, path: os.PathLike | str, wait: bool = False) -> OpenProjectJob:
        """Open a project: the file is read on a worker (a banner shows it), then the window
        switches to it.  ``wait=True`` blocks until done (startup, tests).  A file that is not
        a project is reported in a message box and the current project stays open."""
        job = OpenProjectJob(Path(path))
        job.finished.connect(self._project_opened)
        self.w._start(job)
        if wait:
            self.w.pool.waitForDone()
            QCoreApplication.sendPostedEvents()  # deliver job.finished now
        return job

    def _project_opened(self, job: OpenProjectJob) -> None:
        if job.error or job.project is None:
            if not job.cancelled:
                project_open_failed(self.w, job.path, job.error or f"{job.path}: not opened", job.damaged,
                                    ask=self.w.ask_recover)
            return
        try:
            session = ProjectSession(job.project, rows=job.rows)
        except FewLensError as e:  # damage only the session's reads meet: say so, never a blank window
            job.project.close()
            project_open_failed(self.w, job.path, str(e), bool(getattr(e, "damaged", False)), ask=self.w.ask_recover)
            return
        self.w.set_session(session)

    def export_dialog(self):
        """File -> Export model… (app/widgets/export_dialog.py); the export runs as a tracked job."""
        from ..widgets.export_dialog import ExportDialog

        if self.w.session is None:
            return None
        dlg = ExportDialog(self.w.session, self.w)
        dlg.exportRequested.connect(self.w._start)
        dlg.show()
        return dlg

    def show_welcome(self) -> WelcomeDialog:
        dlg = WelcomeDialog(self.w)
        dlg.ownImagesRequested.connect(self._start_own_project)
        dlg.show()
        self.w.welcome = dlg
        return dlg

    def _start_own_project(self) -> None:
        self.new_project()
        if self.w.session is not None and not len(self.w.session):
            self.w.imports.add_folder_dialog()

    # ================================================================== file menu
    def new_project(self) -> None:
        path = file_dialogs.get_save_file_name(self.w, "New project", str(Path.home() / "Untitled.fewlens"), PROJECT_FILTER,
                                               "fewlens")
        if not path:
            return
        if not path.endswith(".fewlens"):
            path += ".fewlens"
        try:
            session = ProjectSession(Project.create(path, overwrite=True))
        except FewLensError as e:
            QMessageBox.warning(self.w, "New project", str(e))
            return
        self.w.set_session(session)

    def new_project_from_model(self, model: str | None = None, path: str | None = None) -> None:
        """File -> New project from model…: classes, colors, method and threshold of an exported .onnx
        (core.model_import); labeling goes on from there."""
        from core.model_import import project_from_model

        if model is None:
            model = file_dialogs.get_open_file_name(self.w, "New project from model", "", "FewLens model (*.onnx)")
            if not model:
                return
        if path is None:
            path = file_dialogs.get_save_file_name(self.w, "New project", str(Path(model).with_suffix(".fewlens")),
                                                   PROJECT_FILTER, "fewlens")
            if not path:
                return
        path = str(path) if str(path).endswith(".fewlens") else f"{path}.fewlens"
        try:
            session = ProjectSession(Project.open(project_from_model(model, path, overwrite=True)))
        except FewLensError as e:
            QMessageBox.warning(self.w, "New project from model", str(e))
            return
        self.w.set_session(session)

    def open_project_dialog(self) -> None:
        path = file_dialogs.get_open_file_name(self.w, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def save_as(self) -> None:
        if self.w.session is None:
            return
        path = file_dialogs.get_save_file_name(self.w, "Save project as", str(self.w.session.path), PROJECT_FILTER, "fewlens")
        if not path:
            return
        if not path.endswith(".fewlens"):
            path += ".fewlens"
        self.start_save_as(Path(path))

    def start_save_as(self, path: Path) -> SaveAsJob:
        job = SaveAsJob(self.w.session.project, path)
        job.finished.connect(self._project_opened)
        return self.w._start(job)

    def _fill_recent(self) -> None:
        self.w.recent_menu.clear()
        items = [p for p in recent_projects() if self.w.session is None or p != self.w.session.path]
        if not items:
            a = self.w.recent_menu.addAction("No recent projects")
            a.setEnabled(False)
        for p in items:
            self.w.recent_menu.addAction(p.name, lambda p=p: self.open_project(p)).setToolTip(str(p))
