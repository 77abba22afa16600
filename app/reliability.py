"""The GUI's safety nets (issue 14): no traceback reaches the user, and no project is a dead end.

- :func:`install_excepthook`: an exception escaping a slot or a thread becomes a crash report
  file (``core.crash``) and a one-line message in the window; the app keeps running.
- :func:`project_open_failed`: a project that cannot be opened says why in a message box; a
  damaged one offers to recover what is readable into a new file (``fewlens project recover``),
  which then opens.
- :func:`one_class_hint`: the warning for a support set of one class.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from core.crash import report_crash

from .jobs import Job


class _CrashRelay(QObject):
    """Carries a crash message from any thread to the UI thread."""

    crashed = Signal(str)


_relay: _CrashRelay | None = None
#: the last crash message shown (tests and the status bar read it)
last_crash_message: str | None = None


def install_excepthook(show=None) -> None:
    """Route uncaught exceptions (UI thread and Python threads) to a crash report + message.
    ``show(message)`` displays it (default: the active window's status bar and a message box)."""
    global _relay
    _relay = _CrashRelay()
    _relay.crashed.connect(show or _show_default)

    def hook(exc_type, exc, tb):
        global last_crash_message
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        last_crash_message = report_crash(exc, "desktop app")
        _relay.crashed.emit(last_crash_message)

    sys.excepthook = hook
    threading.excepthook = lambda args: hook(args.exc_type, args.exc_value, args.exc_traceback)


def _show_default(message: str) -> None:
    win = QApplication.activeWindow()
    if win is not None and hasattr(win, "statusBar"):
        win.statusBar().showMessage(f"Something went wrong: {message}", 15000)
    # after the current event: a modal box inside the failing slot could re-enter it
    QTimer.singleShot(0, lambda: QMessageBox.warning(win, "FewLens", f"Something went wrong, but your work is "
                                                     f"saved and FewLens keeps running.\n\n{message}"))


# ---------------------------------------------------------------------------------------------- projects


def recovered_path(path: Path) -> Path:
    """A free name next to ``path`` for its recovered copy."""
    base = path.with_name(f"{path.stem}.recovered.fewlens")
    k = 2
    while base.exists():
        base = path.with_name(f"{path.stem}.recovered-{k}.fewlens")
        k += 1
    return base


class RecoverJob(Job):
    """Copy every readable row of a damaged project into a new file (core.project.repair)."""

    title = "Recovering project"

    def __init__(self, source: Path, dest: Path):
        super().__init__()
        self.source, self.dest = Path(source), Path(dest)
        self.summary = ""

    def run(self) -> None:
        from core.project.repair import recover_project

        self.status.emit(f"Recovering {self.source.name}…")
        self.summary = recover_project(self.source, self.dest).summary()


def project_open_failed(window, path: Path, message: str, damaged: bool, ask=None) -> RecoverJob | None:
    """Say why ``path`` did not open.  For a damaged file, offer "Recover a copy": a RecoverJob
    started on ``window`` that opens the copy when done.  ``ask(box) -> bool`` answers for tests."""
    if not damaged and ask is None:  # nothing to offer: the plain warning
        QMessageBox.warning(window, "Cannot open project", message)
        return None
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Cannot open project")
    box.setText(message)
    recover = None
    if damaged:
        box.setInformativeText("FewLens can copy everything still readable (classes, images, labels, "
                               "settings) into a new project file. The damaged file is not changed.")
        recover = box.addButton("Recover a copy", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    if ask is not None:
        wants = ask(box)
    else:
        box.exec()
        wants = recover is not None and box.clickedButton() is recover
    if not (damaged and wants):
        return None
    job = RecoverJob(path, recovered_path(path))

    def done(j: RecoverJob) -> None:
        if j.error:
            QMessageBox.warning(window, "Recover project", j.error)
            return
        window.statusBar().showMessage(f"Recovered into {j.dest.name}: {j.summary}", 15000)
        window.files.open_project(j.dest)

    job.finished.connect(done)
    window._start(job)
    return job


def one_class_hint(labeled_classes: int) -> str:
    """The status-bar warning when the labels name a single class (every image would get it)."""
    if labeled_classes != 1:
        return ""
    return ("Only one class is labeled: every image gets it at 100 %. Label a second class, "
            "or set an Unknown threshold, to tell images apart.")


__all__ = ["RecoverJob", "install_excepthook", "one_class_hint", "project_open_failed", "recovered_path"]
