"""Drops, Add folder/images, Predict folder, Locate missing and embedding what is missing."""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QMessageBox

from core.class_folders import subfolder_names

from .. import file_dialogs
from ..jobs import EmbedMissingJob, ImportJob, ImportPlan, LocateJob
from ..wording import plural, tidy_class_name


def _image_suffixes() -> frozenset[str]:
    from core.images import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


class ImportFlow:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    def embed_missing(self) -> EmbedMissingJob | None:
        s = self.w.session
        rows = s.rows_needing_embedding()
        for job in self.w.jobs:
            if isinstance(job, EmbedMissingJob):
                job.cancel()
        if not rows:
            return None
        job = EmbedMissingJob([(s.files[r], s.hashes[r]) for r in rows], s.backbone, s.project.embedding_cache)
        backbone = job.backbone  # (not the job itself: a job its own slot holds is a cycle, see app.jobs.base)
        job.chunk.connect(lambda c: self.w.session.set_embeddings(c.hashes, c.vecs, backbone)
                          if self.w.session is s else None)
        return self.w._start(job, show=len(rows) > 0)

    def ask_use_subfolders(self, names: list[str]) -> bool | None:
        """Offer subfolder names as class labels.  True / False, or None to cancel the import."""
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        box = QMessageBox(self.w)
        box.setWindowTitle("Use folder names as labels?")
        box.setText(f"This folder has {len(names)} subfolder{'s' if len(names) != 1 else ''}: {shown}.")
        box.setInformativeText("Label each image with the name of its subfolder? "
                               "Choose “Import unlabeled” to label them yourself.")
        tidy = [n for n in names if tidy_class_name(n) != n]
        check = None
        if tidy:  # "Common_Chickweed" is a folder's name, not what a botanist calls the class
            check = QCheckBox(f"Write names as people do: “{tidy_class_name(tidy[0])}”, not “{tidy[0]}”")
            check.setChecked(self.w.tidy_folder_names)
            box.setCheckBox(check)
        yes = box.addButton("Use as labels", QMessageBox.ButtonRole.YesRole)
        no = box.addButton("Import unlabeled", QMessageBox.ButtonRole.NoRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(yes)
        box.exec()
        if check is not None:
            self.w.tidy_folder_names = check.isChecked()
        if box.clickedButton() is yes:
            return True
        if box.clickedButton() is no:
            return False
        return None

    def import_paths(self, paths: list[Path], ask_subfolders: bool = True) -> ImportJob | None:
        if self.w.session is None:
            return None
        paths = [Path(p) for p in paths]
        names = subfolder_names(paths) if ask_subfolders else []
        use_labels = False
        if names:
            answer = self.ask_use_subfolders(names)
            if answer is None:
                return None
            use_labels = answer
        s = self.w.session
        job = ImportJob(ImportPlan(paths, use_labels), s.backbone, s.project.embedding_cache)
        # chunks of a project the user has since closed are dropped, not added to the new one
        ref = weakref.ref(job)  # a job its own slot holds is a cycle (app.jobs.base)
        job.chunk.connect(lambda c: self._import_chunk(ref(), c) if self.w.session is s and ref() else None)
        job.finished.connect(self._import_done)
        return self.w._start(job)

    def _import_chunk(self, job: ImportJob, chunk) -> None:
        s = self.w.session
        if s is None:
            return
        labels = None
        if any(chunk.class_names):
            labels = [self._class_for_import(name) if name else None for name in chunk.class_names]
        vecs = chunk.vecs if job.backbone == s.backbone else None
        s.add_images(chunk.paths, chunk.hashes, vecs, labels)
        if vecs is None:
            self.embed_missing()

    def _class_for_import(self, name: str) -> int:
        """Class id for a subfolder name, created on first use (import is not an undo step)."""
        s = self.w.session
        if self.w.tidy_folder_names:
            name = tidy_class_name(name)
        for c in s.classes:
            if c.name.casefold() == name.casefold():
                return c.id
        return s.add_class(name)

    def _import_done(self, job: ImportJob) -> None:
        imported = job.imported
        if job.cancelled:
            self.w.statusBar().showMessage("Import cancelled: the images imported so far were kept.", 8000)
        elif job.total:
            self.w.statusBar().showMessage(f"Imported {plural(imported, 'image')}.", 6000)
        if job.errors:
            self.w.report.show_errors(job.errors, imported)

    def add_folder_dialog(self) -> None:
        folder = file_dialogs.get_existing_directory(self.w, "Add a folder of images")
        if folder:
            self.import_paths([Path(folder)])

    def predict_folder_dialog(self, folders=None):
        """File -> Predict folder…: a modeless dialog (app/widgets/batch_dialog.py); returns it (tests drive it)."""
        from ..widgets.batch_dialog import PredictFolderDialog

        dlg = PredictFolderDialog(self.w)
        dlg.add_folders(folders or [])
        dlg.import_requested.connect(lambda folders: self.import_paths(folders, ask_subfolders=False))  # unlabeled
        dlg.show()
        return dlg

    def add_images_dialog(self) -> None:
        patterns = " ".join(f"*{e}" for e in sorted(_image_suffixes()))
        files = file_dialogs.get_open_file_names(self.w, "Add images", "", f"Images ({patterns})")
        if files:
            self.import_paths([Path(f) for f in files])

    def locate_missing(self) -> None:
        s = self.w.session
        if s is None:
            return
        if not s.missing.any():
            QMessageBox.information(self.w, "Locate missing files", "No files are missing.")
            return
        folder = file_dialogs.get_existing_directory(self.w, "Where are the missing images now?")
        if folder:
            self.start_locate(Path(folder))

    def start_locate(self, folder: Path) -> LocateJob:
        job = LocateJob(self.w.session, folder)
        job.finished.connect(self._locate_done)
        return self.w._start(job)

    def _locate_done(self, job: LocateJob) -> None:
        if job.error or self.w.session is None:
            return
        self.w.thumbs.invalidate()
        self.w.session.refresh_missing()
        left = int(self.w.session.missing.sum())
        self.w.statusBar().showMessage(
            f"Relinked {job.count:,} file{'s' if job.count != 1 else ''}" + (f"; {left:,} still missing." if left else "."),
            8000)
        self.embed_missing()
