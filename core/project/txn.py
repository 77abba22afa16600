"""Transactions and error translation shared by the project store's parts."""

from __future__ import annotations

import functools
import sqlite3


def reads(method):
    """Reads translate SQLite errors (damage found after open) into a ProjectError naming the file."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, UnicodeDecodeError) as e:
            raise self._translate(e) from None

    return wrapper


class Translating:
    """``with Translating(project):`` turns SQLite errors into the project's ProjectError."""

    def __init__(self, project):  # a core.project.Project (which imports this module)
        self._p = project

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, sqlite3.Error):
            raise self._p._translate(exc) from None


class WriteTxn:
    """Context manager: process-wide write lock + BEGIN IMMEDIATE ... COMMIT/ROLLBACK.
    SQLite failures (locked by another program, disk full, I/O error) surface as
    ``ProjectError`` naming the project file; the transaction is rolled back."""

    def __init__(self, project):  # a core.project.Project (which imports this module)
        self._p = project

    def __enter__(self) -> sqlite3.Connection:
        self._p._write_lock.acquire()
        try:
            self._con = self._p._conn()
            self._con.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, UnicodeDecodeError) as e:
            self._p._write_lock.release()
            raise self._p._translate(e) from None
        except BaseException:
            self._p._write_lock.release()
            raise
        return self._con

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self._con.execute("COMMIT")
                except (sqlite3.Error, UnicodeDecodeError) as e:
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                    raise self._p._translate(e) from None
            else:
                self._con.execute("ROLLBACK")
        finally:
            self._p._write_lock.release()
        if exc_type is not None and issubclass(exc_type, sqlite3.OperationalError):
            raise self._p._translate(exc) from exc
