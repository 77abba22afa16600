"""File -> Predict folder…: predict whole folders into a CSV in the background (core.batch).

The dialog picks folders (searched recursively) and the output CSV; the job snapshots the
project's labeled embeddings on the UI thread, fits the project's method on a worker and streams
rows with core.batch.predict_to_csv (the user embedding cache makes a second run fast).  The
dialog shows progress, ETA, Cancel and the unreadable files; "add them to the project" imports
the folders unlabeled afterwards through the window's normal import.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QProgressBar,
                               QPushButton, QVBoxLayout)

from core.embedders import get_embedder

from .. import file_dialogs
from ..jobs import Job

UNLABELED_SAMPLE = 1000  # unlabeled project rows handed to methods that use them (bounded)


class PredictFolderJob(Job):
    title = "Predicting folders"
    error_found = Signal(str, str)  # path, reason (as they happen)

    def __init__(self, folders: list[Path], out: Path, backbone: str, method: str, threshold: float,
                 support: np.ndarray, names: list[str], unlabeled: np.ndarray | None, resume: bool = False):
        super().__init__()
        self.folders, self.out, self.backbone, self.method_name = list(folders), Path(out), backbone, method
        self.threshold, self.support, self.names, self.unlabeled = threshold, support, names, unlabeled
        self.resume = resume
        self.summary = None

    @classmethod
    def from_session(cls, session, folders: list[Path], out: Path, resume: bool = False) -> "PredictFolderJob":
        """Snapshot what the fit needs now (the user may keep labeling while it runs)."""
        from core.errors import FewLensError

        names_by_id = {c.id: c.name for c in session.classes}
        rows = np.flatnonzero(session.emb.have & np.isin(session.labels, list(names_by_id)))
        names = [names_by_id[int(c)] for c in session.labels[rows]]
        if len(set(names)) < 2:
            raise FewLensError("label images of at least two classes before predicting folders")
        support = np.array(session.emb.data[rows], np.float32)
        un = np.flatnonzero(session.emb.have & ~np.isin(session.labels, list(names_by_id)))[:UNLABELED_SAMPLE]
        unlabeled = np.array(session.emb.data[un], np.float32)
        return cls(folders, out, session.backbone, session.method, session.threshold, support, names, unlabeled,
                   resume=resume)

    def run(self) -> None:
        from core.batch import count_image_files, iter_image_files, predict_to_csv
        from core.batch_predictors import MethodPredictor
        from core.embedding_cache import EmbeddingCache
        from core.methods import get_method

        self.status.emit("Counting images…")
        total = count_image_files(self.folders)
        self.progress.emit(0, total)
        method = get_method(self.method_name)
        method.process_support_set(self.support, self.names,
                                   unlabeled=self.unlabeled if method.uses_unlabeled else None)
        predictor = MethodPredictor(get_embedder(self.backbone), method, self.method_name, threshold=self.threshold)
        self.status.emit(f"Predicting {total:,} images…")

        def on_error(e) -> None:
            self.errors.append(e)
            self.error_found.emit(str(e.path), e.reason)

        with EmbeddingCache.default() as cache:
            self.summary = predict_to_csv(
                iter_image_files(self.folders), predictor, self.out, resume=self.resume, cache=cache,
                total=total, progress=lambda d, t: self.progress.emit(d, t or 0), cancel=self.is_cancelled,
                on_error=on_error)
        if self.summary.cancelled:
            self.cancelled = True


class PredictFolderDialog(QDialog):
    """Pick folders + output, then watch the run.  ``import_requested(folders)`` asks the window
    to add the predicted images to the project unlabeled."""

    import_requested = Signal(list)

    def __init__(self, window, parent=None):
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("Predict folder")
        self.setMinimumWidth(560)
        self.job: PredictFolderJob | None = None
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Folders to predict (subfolders included):"))
        self.folders = QListWidget()
        self.folders.setMaximumHeight(110)
        lay.addWidget(self.folders)
        row = QHBoxLayout()
        add, rem = QPushButton("Add folder…"), QPushButton("Remove")
        add.clicked.connect(self._add_folder)
        rem.clicked.connect(lambda: [self.folders.takeItem(self.folders.row(i)) for i in self.folders.selectedItems()])
        row.addWidget(add)
        row.addWidget(rem)
        row.addStretch(1)
        lay.addLayout(row)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output CSV:"))
        self.out_edit = QLineEdit()
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_out)
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        lay.addLayout(out_row)
        self.resume_box = QCheckBox("Continue an earlier run into this file (skip images already in it)")
        self.add_box = QCheckBox("Add the predicted images to the project, unlabeled, to review them")
        lay.addWidget(self.resume_box)
        lay.addWidget(self.add_box)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.status = QLabel("")
        self.status.setProperty("role", "hint")
        self.status.setWordWrap(True)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        self.errors_label = QLabel("Unreadable files:")
        self.errors = QListWidget()
        self.errors.setMaximumHeight(120)
        lay.addWidget(self.errors_label)
        lay.addWidget(self.errors)
        self.errors_label.hide()
        self.errors.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QPushButton("Predict")
        self.start_button.setProperty("role", "primary")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        lay.addLayout(buttons)
        self.bar.hide()
        self._t0 = 0.0
        self._done0 = 0

    # -- inputs -------------------------------------------------------------------------------
    def add_folders(self, folders) -> None:
        for f in folders:
            self.folders.addItem(str(f))

    def folder_paths(self) -> list[Path]:
        return [Path(self.folders.item(i).text()) for i in range(self.folders.count())]

    def _add_folder(self) -> None:
        d = file_dialogs.get_existing_directory(self, "Folder to predict")
        if d:
            self.add_folders([d])

    def _choose_out(self) -> None:
        f = file_dialogs.get_save_file_name(self, "Write predictions to", "predictions.csv", "CSV (*.csv)", "csv")
        if f:
            self.out_edit.setText(f)

    # -- the run ------------------------------------------------------------------------------
    def start(self) -> PredictFolderJob | None:
        from core.errors import FewLensError

        folders, out = self.folder_paths(), self.out_edit.text().strip()
        if not folders or not out:
            self.status.setText("Add at least one folder and choose the output CSV.")
            return None
        try:
            job = PredictFolderJob.from_session(self.window_.session, folders, Path(out),
                                                resume=self.resume_box.isChecked())
        except FewLensError as e:
            self.status.setText(str(e))
            return None
        self.job = job
        self.errors.clear()
        job.progress.connect(self._on_progress)
        job.status.connect(self.status.setText)
        job.error_found.connect(self._on_error)
        job.finished.connect(self._on_finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.bar.setRange(0, 0)
        self.bar.show()
        self._t0, self._done0 = time.monotonic(), -1
        job.start(getattr(self.window_, "pool", None))
        return job

    def _on_progress(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        if self._done0 < 0:  # skipped (resumed) rows arrive at once: the rate starts after them
            self._t0, self._done0 = time.monotonic(), done
        rate = (done - self._done0) / max(time.monotonic() - self._t0, 1e-6)
        eta = f", about {_duration((total - done) / rate)} left" if rate > 0 and done < total else ""
        self.status.setText(f"{done:,} / {total:,} images{eta}")

    def _on_error(self, path: str, reason: str) -> None:
        self.errors_label.show()
        self.errors.show()
        self.errors.addItem(f"{path}: {reason}")
        self.errors_label.setText(f"Unreadable files ({self.errors.count():,}), listed in the CSV too:")

    def _on_finished(self, job: PredictFolderJob) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setText("Close")
        s = job.summary
        if job.error:
            self.status.setText(job.error)
        elif job.cancelled:
            done = s.written + s.skipped if s else 0
            self.status.setText(f"Cancelled after {done:,} images; {job.out.name} holds them "
                                "(tick 'Continue an earlier run' to finish it).")
            self.resume_box.setChecked(True)
        else:
            self.status.setText(f"Done: {s.predicted:,} predicted, {s.n_errors:,} unreadable"
                                + (f", {s.skipped:,} already in the file" if s.skipped else "")
                                + f" -> {job.out}")
            if self.add_box.isChecked():
                self.import_requested.emit(job.folders)

    def _cancel_or_close(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(True)
        else:
            self.reject()

    def closeEvent(self, e) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()  # the rows done so far stay in the file
        super().closeEvent(e)


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


__all__ = ["PredictFolderDialog", "PredictFolderJob"]
