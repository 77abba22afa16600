"""Issue 10, item 1: a file dialog on the project's folder must not cost the user labels.

The reported sequence, end to end: the app (a child process, offscreen) opens a real file dialog
listing the project's own folder and closes it; a second process opens the project; the user labels
every image with one key; kill -9.  Every acknowledged label must be on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.images import file_hash, find_images
from core.project import Project

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parents[2]
MINI = Path(__file__).parents[1] / "data" / "clothing_mini"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not Path("/proc/locks").exists(),
                                reason="needs SIGKILL and /proc/locks (Linux)")

APP = r"""
import os, sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog
from app.main_window import MainWindow
from app.session import ProjectSession
from core.project import Project

path = sys.argv[1]
app = QApplication([])
w = MainWindow(ProjectSession(Project.open(path)))
w.show()
folder = os.path.dirname(os.path.abspath(path))

def posix_locks():
    # only this process's locks on the project's own files (the database, its -wal/-shm, the lock):
    # a background job reading the embedding cache holds SQLite locks of its own, which come and go
    inodes = {os.stat(os.path.join(folder, n)).st_ino for n in os.listdir(folder)
              if os.path.isfile(os.path.join(folder, n))}
    with open("/proc/locks") as f:
        rows = [line.split() for line in f]
    return sum(1 for r in rows if r[1] == "POSIX" and r[4] == str(os.getpid()) and int(r[5].split(":")[2]) in inodes)

def close_dialog():
    for top in QApplication.topLevelWidgets():
        if isinstance(top, QFileDialog) and top.isVisible():
            top.reject()
            return
    QTimer.singleShot(200, close_dialog)

def settled():
    # background jobs read the project on connections of their own: count once they are done
    while w.jobs or w.session.pending_embeddings or not w.session.predictions_current:
        QTest.qWait(50)
    return posix_locks()

before = settled()
QTimer.singleShot(1500, close_dialog)  # let it list (and type) every file of the folder first
w.show_try_it().open_images()         # the real dialog, on the current folder: the project's
print("dialog", before, settled(), flush=True)
sys.stdin.readline()
w.gallery.setFocus()
w.gallery.selectAll()
QTest.keyClick(w.gallery, Qt.Key.Key_2)
print("ack", w.session.labeled_count, flush=True)
sys.stdin.readline()  # until killed
"""


def test_labels_survive_dialog_second_process_and_kill9(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(MINI, photos)
    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        files = find_images([photos])
        p.add_images([(f, file_hash(f)) for f in files])
        p.add_class("Alpha")
        p.add_class("Beta")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", APP, str(path)], cwd=tmp_path, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["dialog"], child.stderr.read() if child.poll() is not None else line
        before, after = int(line[1]), int(line[2])
        assert before > 0 and after == before, "the dialog dropped SQLite's locks on the project"

        other = subprocess.run([sys.executable, "-m", "core.cli", "project", "info", str(path)],
                               capture_output=True, text=True, env=env, timeout=60)
        assert other.returncode != 0 and "is open in another FewLens" in other.stderr
        assert "Traceback" not in other.stderr and str(path) in other.stderr

        child.stdin.write("label\n")
        child.stdin.flush()
        ack = child.stdout.readline().split()
        assert ack[:1] == ["ack"], child.stderr.read() if child.poll() is not None else ack
        assert int(ack[1]) == len(files)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    with Project.open(path) as p:
        assert p.integrity_check() == "ok"
        beta = p.class_by_name("Beta").id
        assert sorted(p.labels().values()) == [beta] * len(files)
