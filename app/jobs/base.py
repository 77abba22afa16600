"""The job base: a QObject on the UI thread whose ``run()`` runs on a pool thread.

A job never has a Qt parent, and a started job is kept referenced on the UI thread until its
``finished`` has been delivered there.  A parent could delete the job (a dialog or window closed)
while its thread still emits on it, and the last reference dropped on the pool thread would
delete a UI-thread QObject there; either can crash the process, so neither can happen.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal, Slot

from core.errors import Cancelled, FewLensError, ImageError


class _Runner(QRunnable):
    def __init__(self, job: "Job"):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._execute()


class _Keeper(QObject):
    """Holds every running job; lives on the UI thread, so the last reference goes there."""

    def __init__(self):
        super().__init__()
        self.jobs: set[Job] = set()

    def keep(self, job: "Job") -> None:
        self.jobs.add(job)
        job.finished.connect(self.release, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def release(self, job: "Job") -> None:
        self.jobs.discard(job)


_keeper: _Keeper | None = None


def running_jobs() -> int:
    """How many started jobs have not yet reported ``finished`` on the UI thread."""
    return len(_keeper.jobs) if _keeper is not None else 0


class Job(QObject):
    """A cancellable background task with progress."""

    progress = Signal(int, int)  # done, total
    status = Signal(str)  # what it is doing now, for the task banner
    finished = Signal(object)  # the job itself (read .cancelled, .error, .errors)

    title = "Working"

    def __init__(self):
        super().__init__()  # no parent, ever: see the module's docstring
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
        """Call on the UI thread."""
        global _keeper
        if _keeper is None:
            _keeper = _Keeper()
        _keeper.keep(self)
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
