"""The project file's format: schema, format checks at open, and migrations between versions.

``check_project(con, path)`` runs when a project opens: the tables every view reads are there,
pass SQLite's quick check and hold values of the right types; a file that fails gets a
``ProjectError`` naming the file, saying what is wrong and what to do (``damaged = True``).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..errors import ProjectError
from .. import adapted_store, project_lock

SCHEMA_VERSION = 3
PROJECT_SUFFIX = ".fewlens"
# PRAGMA application_id: marks the SQLite file as a FewLens project ("FwLn").
APPLICATION_ID = 0x46774C6E
BUSY_TIMEOUT_MS = 5000

# Well-known setting keys (values are JSON).
SETTING_BACKBONE = "backbone"
SETTING_METHOD = "method"
SETTING_THRESHOLD = "unknown_threshold"

_SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA_SQL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    color    TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE UNIQUE INDEX classes_name ON classes (name COLLATE NOCASE);
CREATE TABLE images (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL UNIQUE,   -- relative to the project folder (POSIX '/') or absolute
    hash     TEXT NOT NULL,          -- core.images.file_hash of the bytes
    size     INTEGER,                -- bytes; lets locate() hash only same-size candidates
    class_id INTEGER REFERENCES classes (id) ON DELETE SET NULL,
    added_at REAL NOT NULL,
    labeled_by TEXT                  -- who set class_id: 'user' | 'prediction' (accepted); format 2
);
CREATE INDEX images_hash ON images (hash);
CREATE INDEX images_class ON images (class_id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# The embeddings tables come from core.embedding_cache (created on the same connection).

# Schema migrations: MIGRATIONS[v] upgrades a version-v file to v+1 inside one transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}

# Label provenance (format 2): a label typed by the user, or a prediction the user accepted.
LABELED_BY_USER = "user"
LABELED_BY_PREDICTION = "prediction"


def _migrate_1_add_labeled_by(con: sqlite3.Connection) -> None:
    # Format 1 did not record provenance; its labels were all set by hand or from class folders.
    con.execute("ALTER TABLE images ADD COLUMN labeled_by TEXT")
    con.execute("UPDATE images SET labeled_by = ? WHERE class_id IS NOT NULL", (LABELED_BY_USER,))


MIGRATIONS[1] = _migrate_1_add_labeled_by
MIGRATIONS[2] = adapted_store.migrate  # format 3: the adapted backbone saved with the project


def check_header(path: Path, read_only_ok: bool = False) -> project_lock.ProjectLock:
    """Fail early, naming the file, for anything that cannot be a project file; on success the
    file is locked for this process (see core.project_lock) and the lock is returned."""
    p = os.fspath(path)
    if not path.exists():
        raise ProjectError(p, "no such project file")
    if path.is_dir():
        raise ProjectError(p, "is a folder, not a FewLens project file")
    try:
        lock = project_lock.acquire(path)
    except PermissionError:
        raise ProjectError(p, "cannot read the project file: permission denied") from None
    except OSError as e:
        raise ProjectError(p, f"cannot read the project file: {e.strerror or e}") from None
    try:
        try:
            head = lock.read_header(len(_SQLITE_MAGIC))
        except OSError as e:
            raise ProjectError(p, f"cannot read the project file: {e.strerror or e}") from None
        if head != _SQLITE_MAGIC:
            raise ProjectError(p, "not a FewLens project (not an SQLite database)")
        if not read_only_ok and (not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)):
            raise ReadOnlyProjectError(p, "the project file or its folder is read-only; use Save As to copy it")
    except BaseException:
        lock.release()
        raise
    return lock


class ReadOnlyProjectError(ProjectError):
    """The file is a project but cannot be written: ``Project.open_any`` opens it read-only."""


#: Tables every project view reads; a project without one of them cannot be shown.
REQUIRED_TABLES = ("meta", "classes", "images", "settings")


def advice(path: os.PathLike | str) -> str:
    import shlex

    name = Path(path).name
    out = f"{Path(name).stem}.recovered.fewlens"
    return (f"open a backup of it, or recover what is readable into a new file "
            f"(Recover a copy in the app, or: fewlens project recover {shlex.quote(name)} {shlex.quote(out)})")


def damaged(path: os.PathLike | str, what: str) -> ProjectError:
    what = " ".join(what.replace("*** in database main ***", "").split())  # SQLite's reports span lines
    err = ProjectError(path, f"the project file is damaged ({what}); {advice(path)}")
    err.damaged = True
    return err


def setting_problem(key: str, text: str) -> str | None:
    """Why a stored setting cannot be used, or None when it is fine."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return f"setting {key!r} is not valid JSON"
    if key == "unknown_threshold":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 <= value <= 1.0:
            return f"setting {key!r} is not a number between 0 and 1"
    elif key in ("backbone", "method") and not isinstance(value, str):
        return f"setting {key!r} is not a name"
    return None


# Values of the wrong type or dangling references: SQLite's checks pass, the views would not.
_ROW_CHECKS = (
    ("an image record holds a value of the wrong type",
     "SELECT COUNT(*) FROM images WHERE typeof(path) != 'text' OR typeof(hash) != 'text' "
     "OR (class_id IS NOT NULL AND typeof(class_id) != 'integer')"),
    ("a class record holds a value of the wrong type",
     "SELECT COUNT(*) FROM classes WHERE typeof(name) != 'text' OR typeof(color) != 'text' "
     "OR typeof(position) != 'integer'"),
    ("an image is labeled with a class that does not exist",
     "SELECT COUNT(*) FROM images WHERE class_id IS NOT NULL AND class_id NOT IN (SELECT id FROM classes)"),
    ("a setting holds a value of the wrong type", "SELECT COUNT(*) FROM settings WHERE typeof(value) != 'text'"),
)


def check_project(con: sqlite3.Connection, path: os.PathLike | str) -> None:
    """Raise a ``damaged`` ProjectError naming ``path`` when the project cannot be shown."""
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for t in REQUIRED_TABLES:
            if t not in tables:
                raise damaged(path, f"the {t!r} table is missing")
            result = [r[0] for r in con.execute(f"PRAGMA quick_check({t})")]
            if result != ["ok"]:
                raise damaged(path, f"the {t!r} table fails the integrity check: {result[0][:120]}")
        for t, cols in (("classes", "id, name, color, position"), ("images", "id, path, hash, class_id"),
                        ("meta", "key, value"), ("settings", "key, value")):
            con.execute(f"SELECT {cols} FROM {t} LIMIT 1").fetchall()  # the columns the views read
        for what, q in _ROW_CHECKS:
            if con.execute(q).fetchone()[0]:
                raise damaged(path, what)
        for key, text in con.execute("SELECT key, value FROM settings"):
            problem = setting_problem(str(key), text)
            if problem:
                raise damaged(path, problem)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # garbled text reads as damage too
        raise damaged(path, str(e)) from None


def validate_and_migrate(project) -> None:
    """Check an opened file is a sound FewLens project and upgrade an older format in place
    (keeping a backup of the original)."""
    p = os.fspath(project.path)
    con = project._conn()
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        meta: dict[str, str] = {}
        if "meta" in tables:
            meta = dict(con.execute("SELECT key, value FROM meta"))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # garbled text reads as damage too
        raise project._translate(e) from None
    if app_id != APPLICATION_ID or meta.get("format") != "fewlens-project":
        if app_id == APPLICATION_ID:  # ours, with its bookkeeping gone
            raise damaged(p, "the format record is missing")
        raise ProjectError(p, "is an SQLite database but not a FewLens project")
    check_project(con, p)  # damage past the header: say so now, not as a traceback later
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise ProjectError(p, "damaged FewLens project (no schema version)") from None
    if version > SCHEMA_VERSION:
        made_by = meta.get("app_version", "?")
        raise ProjectError(
            p,
            f"was saved by a newer FewLens ({made_by}, project format {version}); "
            f"this FewLens {__version__} reads format {SCHEMA_VERSION} and older — please update",
        )
    if version < SCHEMA_VERSION and project.read_only:
        raise ProjectError(p, f"is read-only and in an older project format ({version}); use Save As to copy it")
    if version < SCHEMA_VERSION:
        # Keep the original: an older FewLens can still open it, and a failed upgrade loses nothing.
        backup = project.path.with_name(f"{project.path.name}.format{version}.bak")
        if not backup.exists():
            out = sqlite3.connect(backup)
            try:
                con.backup(out)
            finally:
                out.close()
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ProjectError(p, f"no upgrade path from project format {version}")
        with project._write() as wcon:
            step(wcon)
            version += 1
            wcon.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            wcon.execute("UPDATE meta SET value = ? WHERE key = 'app_version'", (__version__,))
            wcon.execute(f"PRAGMA user_version={version}")
