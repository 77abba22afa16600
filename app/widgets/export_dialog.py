"""File -> Export model…: the project's fitted model as one ONNX (or TorchScript) file.

The dialog says what goes in (classes with their label counts, method, whether the adapted
backbone is used), runs the export as a background :class:`ExportJob` (progress and Cancel in
the window's task banner) and shows the result: file, size, and the runner command to copy.
All the work is core's (the session's Recognizer, core.recognizer_build, core.export); nothing
here fits or exports.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from .. import file_dialogs
from ..jobs import Job

FORMATS = [("ONNX (one file + standalone runner)", "onnx", ".onnx"), ("TorchScript (GPU servers)", "torchscript", ".pt")]


class ExportJob(Job):
    """Export the session's Recognizer (``recognizer``: its snapshot, fitted once on this thread;
    the gallery's own fit).  Without one (embeddings still loading) the project's Recognizer is
    built by core.recognizer_build, reusing the session's adapted network when it is current."""

    title = "Exporting the model"

    def __init__(self, project, target: Path, format: str, adapted=None, adapt: str | None = None,
                 recognizer=None):
        super().__init__()
        self.project, self.target, self.format, self.adapted, self.adapt = project, Path(target), format, adapted, adapt
        self._recognizer = recognizer
        self.result = None
        self.recognizer = None

    def run(self) -> None:
        from core.export import export_recognizer
        from core.recognizer_build import build_recognizer

        def progress(stage: str, done: int, total: int) -> None:
            self.status.emit(stage[:1].upper() + stage[1:] + "…")
            self.progress.emit(done, total)

        rec = self._recognizer() if self._recognizer is not None else None
        if rec is None:
            rec = build_recognizer(self.project, adapted=self.adapted, adapt=self.adapt, progress=progress,
                                   cancel=self.is_cancelled, for_export=True)
        self.recognizer = rec
        self.status.emit("Writing the model file…")
        self.result = export_recognizer(rec, self.target, format=self.format, runner=True,
                                        progress=lambda d, t: self.progress.emit(d, t), cancel=self.is_cancelled)


def export_blocker_for(session) -> str | None:
    """Why this session's model cannot be exported (the method, the backbone), said before starting."""
    from core.recognizer_build import export_blocker

    return export_blocker(session.method, session.backbone)


def describe(session) -> str:
    """What goes into the export, in words (from the session's current state)."""
    classes = session.project.classes()
    parts = ", ".join(f"{c.name} ({c.count})" for c in classes)
    adapted = "adapted to your labels" if session.adapted_in_use else "pretrained (not adapted)"
    return (f"Classes and labels: {parts or 'none'}\nMethod: {session.method}\n"
            f"Backbone: {session.backbone}, {adapted}")


class ExportDialog(QDialog):
    exportRequested = Signal(object)  # the ExportJob, for the window to run and track

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.job: ExportJob | None = None
        self.setWindowTitle("Export model")
        self.setMinimumWidth(600)
        lay = QVBoxLayout(self)
        self.what = QLabel(describe(session))
        self.what.setWordWrap(True)
        lay.addWidget(self.what)
        form = QFormLayout()
        self.format = QComboBox()
        for text, key, _ in FORMATS:
            self.format.addItem(text, key)
        self.format.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format)
        row = QHBoxLayout()
        self.path = QLineEdit(str(Path(session.project.path).with_name(Path(session.project.path).stem + "-model.onnx")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("Save as", row)
        lay.addLayout(form)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.result)
        self.copy = QPushButton("Copy runner command")
        self.copy.setVisible(False)
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.runner_command))
        lay.addWidget(self.copy)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.runner_command = ""
        self.blocker = export_blocker_for(session)
        if self.blocker:  # say it now, not after a minute of work
            self.result.setText(f"This model cannot be exported: {self.blocker}")
            self.export_button.setEnabled(False)

    def _format_changed(self) -> None:
        ext = FORMATS[self.format.currentIndex()][2]
        p = Path(self.path.text() or "model")
        self.path.setText(str(p.with_suffix(ext)))

    def _browse(self) -> None:
        ext = FORMATS[self.format.currentIndex()][2]
        name = file_dialogs.get_save_file_name(self, "Export model", self.path.text(), f"Model (*{ext})")
        if name:
            self.path.setText(name)

    def start_export(self) -> ExportJob:
        s = self.session
        adapted = s.adapted.network if (s.adapted_in_use and s.adapted is not None) else None
        # the model the gallery shows, as the session holds it; while vectors are still loading, the
        # project's (pretrained features unless the adapted network is current: never adapt here)
        current = s.pending_embeddings == 0 and s.recognizer_snapshot().has_labels
        self.job = ExportJob(s.project, Path(self.path.text()).expanduser(), self.format.currentData(),
                             adapted=adapted, adapt=None if adapted is not None else "off",
                             recognizer=s.recognizer_snapshot() if current else None)
        self.job.finished.connect(self._done)
        self.export_button.setEnabled(False)
        self.result.setText("Exporting… (progress and Cancel in the window's banner)")
        self.exportRequested.emit(self.job)
        return self.job

    def _done(self, job: ExportJob) -> None:
        self.export_button.setEnabled(True)
        if job.cancelled:
            self.result.setText("Export cancelled; nothing was written.")
            return
        if job.error:
            self.result.setText(f"Export failed: {job.error}")
            return
        r = job.result
        self.runner_command = r.runner_command
        extra = f"\n\nRun it anywhere with onnxruntime, numpy and Pillow:\n{r.runner_command}" if r.runner else ""
        self.result.setText(f"Wrote {r.model} ({r.size_bytes / 1e6:.1f} MB) in {r.seconds:.1f} s, "
                            f"with {r.sidecar.name} and {r.labels.name}.{extra}")
        self.copy.setVisible(bool(r.runner))
        self.adjustSize()
