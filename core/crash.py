"""Crash reports: an unexpected exception becomes one clear line plus a file with the traceback.

The CLI's top level and the GUI's ``sys.excepthook`` both use :func:`report_crash`, so a bug
never shows a user a raw traceback, and whoever fixes it gets the whole story in one file.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path


def crash_dir() -> Path:
    """``crash-reports/`` in the user data folder (``$FEWLENS_DATA_DIR`` overrides)."""
    from .paths import data_dir

    d = data_dir() / "crash-reports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_crash_report(exc: BaseException, context: str = "") -> Path | None:
    """Write the traceback of ``exc`` (and versions) to a new file; its path, or None when even
    that cannot be written (disk full): the caller still shows its one line."""
    from . import __version__

    try:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = crash_dir() / f"crash-{stamp}-{os.getpid()}-{id(exc) & 0xFFFF:04x}.txt"
        lines = [
            f"FewLens {__version__} crash report, {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
            f"Python {platform.python_version()} on {platform.platform()}",
            f"Where: {context or 'unknown'}",
            f"Command line: {' '.join(sys.argv)}",
            "",
            *traceback.format_exception(type(exc), exc, exc.__traceback__),
        ]
        path.write_text("\n".join(line.rstrip("\n") for line in lines) + "\n", encoding="utf-8")
        return path
    except Exception:  # noqa: BLE001 - the report is best effort; the message still goes out
        return None


def crash_message(exc: BaseException, report: Path | None) -> str:
    """One line for the user: what broke and where the details are."""
    what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    where = f"a crash report is in {report}" if report else "no crash report could be written"
    return f"unexpected internal error ({what[:200]}); {where} — please send it with a bug report"


def report_crash(exc: BaseException, context: str = "") -> str:
    """Write the report and return the one-line message naming it."""
    return crash_message(exc, write_crash_report(exc, context))


__all__ = ["crash_dir", "crash_message", "report_crash", "write_crash_report"]
