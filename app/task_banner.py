"""A slim banner above the gallery for long tasks: what is happening, progress, Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton

from .workers import Job


class TaskBanner(QFrame):
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("taskBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(16, 8, 12, 8)
        lay.setSpacing(12)
        self.label = QLabel()
        self.count = QLabel()
        self.count.setProperty("role", "hint")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        lay.addWidget(self.label)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.count)
        lay.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.jobs: list[Job] = []
        self.hide()

    def track(self, job: Job) -> None:
        """Show ``job`` (the newest tracked job is the one displayed)."""
        self.jobs.append(job)
        job.status.connect(lambda text, j=job: self._on_status(j, text))
        job.progress.connect(lambda d, t, j=job: self._on_progress(j, d, t))
        job.finished.connect(self._on_finished)
        self.label.setText(f"{job.title}…")
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.count.setText("")
        self.cancel_button.setEnabled(True)
        self.show()

    @property
    def current(self) -> Job | None:
        return self.jobs[-1] if self.jobs else None

    def _on_status(self, job: Job, text: str) -> None:
        if job is self.current:
            self.label.setText(text)

    def _on_progress(self, job: Job, done: int, total: int) -> None:
        if job is not self.current:
            return
        if total <= 0:
            self.bar.setRange(0, 0)
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.count.setText(f"{done:,} / {total:,}")

    def _on_finished(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if not self.jobs:
            self.hide()
        else:
            cur = self.current
            self.label.setText(f"{cur.title}…")

    def _cancel(self) -> None:
        job = self.current
        if job is not None:
            job.cancel()
            self.label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
        self.cancelRequested.emit()
