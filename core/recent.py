"""Recently opened projects, most recent first, in ``config_dir()/recent.json``.

    recent_projects() -> list[Path]   # existing files only, most recent first, at most MAX_RECENT
    add_recent(path)                  # move/insert to the front
    remove_recent(path), clear_recent()

A corrupt or unreadable list is treated as empty (it is a convenience, never worth an error);
writes go to a temporary file that is renamed over the old one, so a crash cannot leave half
a list behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .paths import config_dir

MAX_RECENT = 10
_FILE_NAME = "recent.json"


def _recent_file() -> Path:
    return config_dir() / _FILE_NAME


def _read() -> list[str]:
    try:
        data = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = data.get("projects") if isinstance(data, dict) else None
    return [p for p in items if isinstance(p, str)] if isinstance(items, list) else []


def _write(items: list[str]) -> None:
    target = _recent_file()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".recent.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"projects": items[:MAX_RECENT]}, f, indent=1)
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only config dir must not break opening a project


def _key(p: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(p)))


def recent_projects() -> list[Path]:
    """Recent projects that still exist, most recent first.  Missing ones are dropped from
    the stored list as a side effect."""
    items = _read()
    alive = [p for p in items if os.path.isfile(p)]
    if alive != items:
        _write(alive)
    return [Path(p) for p in alive[:MAX_RECENT]]


def add_recent(path: os.PathLike | str) -> None:
    p = os.path.normpath(os.path.abspath(os.fspath(path)))
    items = [q for q in _read() if _key(q) != _key(p)]
    _write([p, *items][:MAX_RECENT])


def remove_recent(path: os.PathLike | str) -> None:
    k = _key(os.fspath(path))
    items = _read()
    kept = [q for q in items if _key(q) != k]
    if kept != items:
        _write(kept)


def clear_recent() -> None:
    _write([])


__all__ = ["MAX_RECENT", "add_recent", "clear_recent", "recent_projects", "remove_recent"]
