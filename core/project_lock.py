"""One FewLens process per project file, held by a lock that a stray ``close()`` cannot drop.

Why: SQLite's own locks are POSIX advisory (fcntl) locks, and closing *any* descriptor of a file
drops all of a process's POSIX locks on it.  Qt's file dialog opens the project file to sniff its
type; after that a second program that opens the project believes it is the last connection and
deletes the ``-wal`` the app is still writing to (SQLite's "How To Corrupt", section 2.2).

So every FewLens opener also takes an exclusive ``flock()`` on the project file.  flock locks
belong to the open file description, not to the process, so no other descriptor's close affects
them; on Linux they are independent of fcntl locks, so SQLite's locking is untouched.  The
descriptor stays open (never closed while a SQLite connection of this process may hold the file)
and also serves to read the header, so opening a project never opens and closes the file behind
SQLite's back.  A second process gets a clear ``ProjectError`` instead of the file.

Within one process, opens of the same file share one lock (SQLite coordinates in-process
connections itself).  Windows does not need this (SQLite uses LockFileEx there, which a close of
another handle does not drop); on platforms without ``fcntl.flock`` the guard is skipped.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from .errors import ProjectError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_lock = threading.Lock()
_held: dict[tuple[int, int], list[int]] = {}  # (st_dev, st_ino) -> [fd, refcount]


class ProjectLock:
    """The process's hold on one project file; ``release()`` once per ``acquire``."""

    def __init__(self, path: Path, key: tuple[int, int] | None, fd: int):
        self.path = path
        self._key = key
        self.fd = fd  # -1 when the platform has no flock
        self._released = False

    def read_header(self, n: int) -> bytes:
        """The file's first ``n`` bytes, through the held descriptor (no open/close)."""
        if self.fd < 0:
            with open(self.path, "rb") as f:
                return f.read(n)
        return os.pread(self.fd, n, 0)

    def release(self) -> None:
        """Call only after this process's SQLite connections to the file are closed."""
        if self._released:
            return
        self._released = True
        if self._key is None:
            return
        with _lock:
            entry = _held.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[self._key]
        os.close(entry[0])  # closing the descriptor releases the flock


def acquire(path: Path) -> ProjectLock:
    """Lock ``path`` for this process, or raise ``ProjectError`` naming the file when another
    process has it open.  ``OSError`` from opening the file (missing, permission) propagates."""
    p = os.fspath(path)
    if fcntl is None:
        return ProjectLock(path, None, -1)
    with _lock:
        try:
            st = os.stat(p)
        except OSError:
            st = None
        if st is not None:
            entry = _held.get((st.st_dev, st.st_ino))
            if entry is not None:  # already ours: never open (and later close) a second descriptor
                entry[1] += 1
                return ProjectLock(path, (st.st_dev, st.st_ino), entry[0])
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        # No connection of this process holds this file yet, so closing fd on failure is safe.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ProjectError(p, _held_elsewhere_message(key)) from None
            # A file system without flock (some network mounts): open unguarded rather than not at all.
            return ProjectLock(path, None, -1)
        _held[key] = [fd, 1]
        return ProjectLock(path, key, fd)


def holder_pid(key: tuple[int, int]) -> int | None:
    """The process holding an flock on the file (Linux ``/proc/locks``), or None if unknown."""
    dev, ino = key
    want = f"{os.major(dev):02x}:{os.minor(dev):02x}:{ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2155721 0 EOF"
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want:
                    return int(parts[4])
    except (OSError, ValueError):
        pass
    return None


def _held_elsewhere_message(key: tuple[int, int]) -> str:
    pid = holder_pid(key)
    who = f"another FewLens (process {pid})" if pid else "another FewLens window or command"
    return f"is open in {who}; close it there first (two programs writing one project can lose labels)"
