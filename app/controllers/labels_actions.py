"""File -> Export labels… / Import labels… (core.labels_io), as background jobs.

Export reads the project file on a worker (its own connection) and copies / links files there.
Import reads and hashes the CSV's files on a worker, then adds them through the session on the
UI thread (so the gallery, labels and predictions stay in step) and embeds them with the
window's usual "embed missing" job.  Labels the project already has are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QInputDialog, QMessageBox

from core.errors import ImageError
from core.project import LABELED_BY_PREDICTION

from .. import file_dialogs
from ..jobs import Job

MODE_CHOICES = {
    "Copy the files": "copy",
    "Hard links (no extra space, same drive only)": "hardlink",
    "Symbolic links (point at the originals)": "symlink",
}


class ExportLabelsJob(Job):
    title = "Exporting labels"

    def __init__(self, project, out: Path, mode: str):
        super().__init__()
        self.project, self.out, self.mode = project, Path(out), mode
        self.summary = None

    def run(self) -> None:
        from core.labels_io import export_labels

        self.summary = export_labels(self.project, self.out, self.mode,
                                     progress=lambda d, t: self.progress.emit(d, t), cancel=self.is_cancelled)
        self.errors = list(self.summary.errors)


class ReadLabelsJob(Job):
    """Parse a labels CSV and hash its files; ``rows`` = [(path, hash, class, labeled_by)]."""

    title = "Reading labels"

    def __init__(self, csv_path: Path):
        super().__init__()
        self.csv_path = Path(csv_path)
        self.rows: list[tuple[Path, str, str, str]] = []

    def run(self) -> None:
        from core.images import file_hash
        from core.labels_io import read_labels_csv

        rows, self.errors = read_labels_csv(self.csv_path)
        for done, (p, cls, by) in enumerate(rows, 1):
            if self.is_cancelled():
                return
            try:
                self.rows.append((p, file_hash(p), cls, by))
            except ImageError as e:
                self.errors.append(e)
            if done % 32 == 0 or done == len(rows):
                self.progress.emit(done, len(rows))


def export_labels_dialog(window) -> ExportLabelsJob | None:
    s = window.session
    if s is None:
        return None
    if not s.labeled_count:
        QMessageBox.information(window, "Export labels", "No image is labeled yet.")
        return None
    out = file_dialogs.get_existing_directory(window, "Export the labeled images into (a new or empty folder)")
    if not out:
        return None
    choice, ok = QInputDialog.getItem(window, "Export labels", "Put the images there as:", list(MODE_CHOICES), 0, False)
    if not ok:
        return None
    return start_export(window, Path(out), MODE_CHOICES[choice])


def start_export(window, out: Path, mode: str) -> ExportLabelsJob:
    job = ExportLabelsJob(window.session.project, out, mode)
    job.finished.connect(lambda j: _export_done(window, j))
    return window._start(job)


def _export_done(window, job: ExportLabelsJob) -> None:
    if job.error or job.cancelled or job.summary is None:
        return  # the window's status bar shows the error
    s = job.summary
    window.statusBar().showMessage(f"Exported {s.written:,} labeled images to {s.folder} (labels in labels.csv).", 8000)
    if job.errors:
        window.report.show_errors(job.errors, s.written)


def import_labels_dialog(window) -> ReadLabelsJob | None:
    if window.session is None:
        return None
    f = file_dialogs.get_open_file_name(window, "Import labels", "", "Labels CSV (*.csv)")
    return start_import(window, Path(f)) if f else None


def start_import(window, csv_path: Path) -> ReadLabelsJob:
    session = window.session
    job = ReadLabelsJob(csv_path)
    job.finished.connect(lambda j: _import_read(window, session, j))
    return window._start(job)


def _import_read(window, session, job: ReadLabelsJob) -> None:
    """UI thread: add the rows through the session (classes created as needed), keep labels."""
    if job.error or job.cancelled or window.session is not session or not job.rows:
        if job.errors:
            window.report.show_errors(job.errors, 0)
        return
    by_name = {c.name.lower(): c.id for c in session.classes}
    for _, _, cls, _ in job.rows:
        if cls.lower() not in by_name:
            by_name[cls.lower()] = session.add_class(cls)
    labeled_now = {f: int(c) for f, c in zip(session.files, session.labels) if c >= 0}
    paths, hashes, labels, accepted, kept = [], [], [], [], 0
    for p, h, cls, by in job.rows:
        cid = by_name[cls.lower()]
        current = labeled_now.get(os.path.normpath(os.path.abspath(p)))
        if current is not None and current != cid:
            kept += 1
            cid = None  # the project's own label wins
        paths.append(p)
        hashes.append(h)
        labels.append(cid if current is None else None)
        if cid is not None and current is None and by == LABELED_BY_PREDICTION:
            accepted.append((p, h, cid))
    session.add_images(paths, hashes, None, labels=labels)
    if accepted:  # the session labels as the user; record which rows were accepted predictions
        ids = session.project.add_images([(p, h) for p, h, _ in accepted])  # existing ids, nothing new
        groups: dict[int, list[int]] = {}
        for img_id, (_, _, cid) in zip(ids, accepted):
            groups.setdefault(cid, []).append(img_id)
        for cid, group in groups.items():
            session.project.set_labels(group, cid, labeled_by=LABELED_BY_PREDICTION)
    n = sum(c is not None for c in labels)
    window.statusBar().showMessage(f"Imported {n:,} labels from {job.csv_path.name}"
                                   + (f"; {kept:,} images kept their current label" if kept else "") + ".", 8000)
    if job.errors:
        window.report.show_errors(job.errors, n)
    window.imports.embed_missing()


__all__ = ["ExportLabelsJob", "ReadLabelsJob", "export_labels_dialog", "import_labels_dialog",
           "start_export", "start_import"]
