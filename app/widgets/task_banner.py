"""Long tasks in the status bar: what is happening, progress, Cancel.

It lives in the status bar, not above the gallery: a banner that appears there pushed the tabs and
tiles down ~40 px while the user was clicking them (issue 10).  The status bar's height is fixed
to fit it, so showing or hiding it never moves anything."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton

from ..jobs import Job
from .elided import ElidedText


class _ElidedLabel(ElidedText, QLabel):
    """The task's text, elided to the width the status bar gives it."""

    ELIDE_CHROME = 2

    def set_full_text(self, text: str) -> None:
        self.setToolTip(text)
        self._set_full_text(text)

    def _min_width(self) -> int:
        return min(self.fontMetrics().horizontalAdvance("Cancelling…") + 4, self.maximumWidth())


class TaskBanner(QFrame):
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("taskBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 0, 4, 0)
        lay.setSpacing(8)
        self.label = _ElidedLabel()
        self.label.setMaximumWidth(300)
        self.count = QLabel()
        self.count.setProperty("role", "hint")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(140)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setProperty("role", "small")
        self.cancel_button.clicked.connect(self._cancel)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.count)
        lay.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.jobs: list[Job] = []
        self.hide()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        # the running task and its Cancel button come first: the bar's other texts elide before it
        # does (it still elides when even their minimums do not fit: a very narrow window)
        return self.sizeHint()

    def track(self, job: Job) -> None:
        """Show ``job`` (the newest tracked job is the one displayed)."""
        self.jobs.append(job)
        ref = weakref.ref(job)  # a job its own slot holds is a cycle, freed by the GC on any thread
        job.status.connect(lambda text: self._on_status(ref(), text))
        job.progress.connect(lambda d, t: self._on_progress(ref(), d, t))
        job.finished.connect(self._on_finished)
        self._set_text(f"{job.title}…")
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.count.setText("")
        self.cancel_button.setEnabled(True)
        self.show()

    @property
    def current(self) -> Job | None:
        return self.jobs[-1] if self.jobs else None

    def _on_status(self, job: Job, text: str) -> None:
        if job is self.current:
            self._set_text(text)

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
            self._set_text(f"{cur.title}…")

    def _set_text(self, text: str) -> None:
        self.label.set_full_text(text)

    def _cancel(self) -> None:
        job = self.current
        if job is not None:
            job.cancel()
            self.label.set_full_text("Cancelling…")
            self.cancel_button.setEnabled(False)
        self.cancelRequested.emit()
