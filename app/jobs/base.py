"""The job base: a QObject on the UI thread whose ``run()`` runs on a pool thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import Cancelled, FewLensError, ImageError


class _Runner(QRunnable):
    def __init__(self, job: "Job"):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._execute()


class Job(QObject):
    """A cancellable background task with progress."""

    progress = Signal(int, int)  # done, total
    status = Signal(str)  # what it is doing now, for the task banner
    finished = Signal(object)  # the job itself (read .cancelled, .error, .errors)

    title = "Working"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self.cancelled = False
        self.error: str | None = None
        self.errors: list[ImageError] = []
        self.running = False

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self, pool: QThreadPool | None = None) -> None:
        self.running = True
        (pool or QThreadPool.globalInstance()).start(_Runner(self))

    def _execute(self) -> None:
        try:
            self.run()
        except Cancelled:
            self.cancelled = True
        except FewLensError as e:
            self.error = str(e)
        except Exception as e:  # a bug: one line naming the crash report, never crash the app
            from core.crash import report_crash

            self.error = report_crash(e, f"background job: {self.title}")
        except MemoryError:
            self.error = f"{self.title}: out of memory"
        if self._cancel.is_set():
            self.cancelled = True
        self.running = False
        self.finished.emit(self)

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
