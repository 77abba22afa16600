"""Worker threads and UI-thread objects: what a closed window leaves behind must not crash the app.

A job whose last reference went away on its pool thread was deleted there, and a job parented to
a dialog died with it while its thread still emitted; the predictor, the capture saver and the
camera listing emitted on window-owned objects from Python threads.  Each could take the process
down when a window closed mid-task (a CI run segfaulted in such a teardown)."""

from __future__ import annotations

import gc
import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThreadPool, Signal  # noqa: E402

from app.jobs import Job  # noqa: E402
from app.jobs.base import running_jobs  # noqa: E402
from app.relay import RelayedSignals  # noqa: E402


class _Sleepy(Job):
    title = "Sleeping"
    step = Signal(int)

    def __init__(self, gate: threading.Event):
        super().__init__()
        self.gate = gate

    def run(self) -> None:
        self.gate.wait(10)
        self.step.emit(1)


def test_a_job_nobody_holds_finishes_and_is_deleted_on_the_ui_thread(qtbot):
    """The caller drops its reference at once (as the detail view does when the next image is
    picked): the job still runs to the end, and its QObject goes on the UI thread."""
    gate = threading.Event()
    pool = QThreadPool()
    where: list[str] = []
    before = running_jobs()
    job = _Sleepy(gate)
    job.destroyed.connect(lambda *_: where.append(threading.current_thread().name),
                          Qt.ConnectionType.DirectConnection)
    job.start(pool)
    del job
    assert running_jobs() == before + 1
    gate.set()
    pool.waitForDone(10_000)
    qtbot.waitUntil(lambda: running_jobs() == before, timeout=5_000)
    qtbot.waitUntil(lambda: bool(where), timeout=5_000)
    assert where == [threading.main_thread().name]


def test_a_job_the_task_banner_showed_is_freed_without_the_garbage_collector(qtbot):
    """The banner's slots held the job they were connected to: a cycle, left to the cyclic GC,
    which runs on whichever thread allocates - and a pool thread would delete the job there."""
    from app.widgets.task_banner import TaskBanner

    banner = TaskBanner()
    qtbot.addWidget(banner)
    gate = threading.Event()
    pool = QThreadPool()
    where: list[str] = []
    gc.disable()
    try:
        job = _Sleepy(gate)
        job.destroyed.connect(lambda *_: where.append(threading.current_thread().name),
                              Qt.ConnectionType.DirectConnection)
        banner.track(job)
        job.start(pool)
        del job
        gate.set()
        pool.waitForDone(10_000)
        qtbot.waitUntil(lambda: not banner.jobs and bool(where), timeout=5_000)
    finally:
        gc.enable()
    assert where == [threading.main_thread().name]


class _Owner(RelayedSignals, QObject):
    got = Signal(object)

    def __init__(self):
        super().__init__()
        self.relay = self.make_relay()


def test_a_relay_delivers_on_the_ui_thread_and_to_nobody_once_its_owner_is_gone(qtbot):
    owner = _Owner()
    seen: list[tuple[int, str]] = []
    owner.got.connect(lambda v: seen.append((v, threading.current_thread().name)))
    relay = owner.relay
    t = threading.Thread(target=lambda: relay.send("got", 1))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    assert seen == [(1, threading.main_thread().name)]

    # the owner is deleted while its worker keeps sending (a window closed mid-refit)
    stop = threading.Event()

    def flood():
        k = 0
        while not stop.is_set():
            relay.send("got", k)
            k += 1

    t = threading.Thread(target=flood)
    t.start()
    qtbot.wait(20)
    owner.deleteLater()
    QCoreApplication.processEvents()
    qtbot.wait(50)
    n = len(seen)
    qtbot.wait(50)
    stop.set()
    t.join()
    QCoreApplication.processEvents()
    assert len(seen) == n  # nothing reached the deleted owner's slots after it went
