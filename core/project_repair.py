"""Damaged project files: find the damage when a project opens, and salvage what is readable.

``check_project(con, path)`` runs when a project opens: the tables every view reads are there,
their pages pass ``PRAGMA quick_check`` (the small tables only: the embedding table can be large
and holds nothing that cannot be recomputed), and the settings decode.  Damage becomes one
``ProjectError`` naming the file, saying what is wrong and what to do (``damaged = True``).

``recover_project(src, dst)`` has the semantics of SQLite's ``.recover``: every readable row of
every table is copied into a new project, rows on damaged pages are skipped one by one (probing
by row id when a scan breaks), and settings that do not decode are dropped.  The damaged file is
never written: it is read from a private copy.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProjectError

#: Tables every project view reads; a project without one of them cannot be shown.
REQUIRED_TABLES = ("meta", "classes", "images", "settings")
_PROBE_LIMIT = 2_000_000  # row ids probed one by one after a broken scan (an image table's size)


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
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        raise damaged(path, str(e)) from None


# ---------------------------------------------------------------------------------------------
# Recovery


@dataclass
class RecoverReport:
    copied: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    lost: dict[str, int] = field(default_factory=dict)  # table -> rows known to be unreadable
    dropped: list[str] = field(default_factory=list)  # settings / rows dropped, with why

    def summary(self) -> str:
        parts = []
        for t in ("images", "classes", "settings", "embeddings"):
            if t in self.copied or t in self.lost:
                s = f"{self.copied.get(t, 0)} {t}"
                if self.lost.get(t):
                    s += f" ({self.lost[t]} unreadable)"
                parts.append(s)
        if self.copied.get("labels") is not None:
            parts.append(f"{self.copied['labels']} labels")
        return ", ".join(parts) + (f"; dropped: {'; '.join(self.dropped)}" if self.dropped else "")


def _open_copy(src: Path, tmpdir: str) -> sqlite3.Connection:
    """A private copy of the damaged file (and its WAL), so reading it never writes to it."""
    dst = os.path.join(tmpdir, "damaged.sqlite")
    shutil.copyfile(src, dst)
    wal = Path(str(src) + "-wal")
    if wal.exists():
        shutil.copyfile(wal, dst + "-wal")
    con = sqlite3.connect(dst, isolation_level=None)
    con.execute("PRAGMA writable_schema=ON")  # tolerate a damaged schema entry rather than refuse
    return con


def _read_rows(con: sqlite3.Connection, table: str, cols: str, rowid: bool) -> tuple[list[tuple], int]:
    """Every readable row of ``table``; (rows, rows known lost)."""
    rows: list[tuple] = []
    try:
        for r in con.execute(f"SELECT {cols} FROM {table} NOT INDEXED"):
            rows.append(r)
        return rows, 0
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        if not rowid:
            return rows, 0  # no row ids to probe: keep what the scan read before the damage
    # the scan broke on a damaged page: probe row ids one at a time (each lookup takes its own path
    # down the tree, so rows on sound pages are still found)
    seen = {r[0] for r in rows}
    try:
        top = con.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        top = 0
    lost = 0
    last_found, rid = max(seen, default=0), 0
    # past the last known row id, go on until 1000 ids in a row hold nothing (max() may be unreadable)
    while rid < _PROBE_LIMIT and (rid < top or rid - last_found < 1000):
        rid += 1
        if rid in seen:
            last_found = rid
            continue
        try:
            r = con.execute(f"SELECT {cols} FROM {table} WHERE rowid = ?", (rid,)).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError):
            lost += 1
            continue
        if r is not None:
            rows.append(r)
            last_found = rid
    rows.sort(key=lambda r: r[0])
    return rows, lost


def recover_project(src: os.PathLike | str, dst: os.PathLike | str, overwrite: bool = False) -> RecoverReport:
    """Copy every readable row of the project at ``src`` into a new project at ``dst``."""
    from .project import _check_destination, _norm_abs

    src_p, dst_p = Path(_norm_abs(src)), Path(_norm_abs(dst))
    if not src_p.is_file():
        raise ProjectError(src_p, "no such project file")
    if src_p == dst_p:
        raise ProjectError(dst_p, "is the damaged file itself; choose a new file for the recovered copy")
    _check_destination(dst_p, overwrite)
    with open(src_p, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise ProjectError(src_p, "not an SQLite database: there is nothing to recover")
    report = RecoverReport()
    with tempfile.TemporaryDirectory(prefix="fewlens-recover-") as tmp:
        con = _open_copy(src_p, tmp)
        try:
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
                raise ProjectError(src_p, f"the table list itself is unreadable ({e}): nothing can be recovered") from None
            got: dict[str, list[tuple]] = {}
            for table, cols, rowid in (
                ("classes", "id, name, color, position", True),
                ("images", "id, path, hash, size, class_id, added_at", True),
                ("settings", "rowid, key, value", True),
                ("embeddings", "hash, backbone, vec", False),
                ("embedding_backbones", "rowid, backbone, fingerprint", True),
                ("meta", "rowid, key, value", True),
            ):
                if table not in tables:
                    got[table] = []
                    if table in ("classes", "images", "settings"):
                        report.dropped.append(f"the {table} table was missing")
                    continue
                try:
                    got[table], report.lost[table] = _read_rows(con, table, cols, rowid)
                except (sqlite3.DatabaseError, UnicodeDecodeError):  # even the columns are unreadable
                    got[table], report.lost[table] = [], 0
                    report.dropped.append(f"the {table} table was unreadable")
        finally:
            con.close()
    _write_recovered(dst_p, got, report, overwrite)
    return report


def _write_recovered(dst: Path, got: dict[str, list[tuple]], report: RecoverReport, overwrite: bool) -> None:
    from .project import Project

    with Project.create(dst, overwrite=overwrite) as proj, proj._write() as out:
        names: set[str] = set()
        class_ids: set[int] = set()
        for cid, name, color, position in got["classes"]:
            base = " ".join(str(name or "").split()) or f"class {cid}"
            clean, k = base, 2
            while clean.casefold() in names:  # two rows with one name (a damaged index let it in)
                clean, k = f"{base} ({k})", k + 1
            names.add(clean.casefold())
            col = color if isinstance(color, str) and len(color) == 7 and color.startswith("#") else "#7F7F7F"
            out.execute("INSERT INTO classes (id, name, color, position) VALUES (?, ?, ?, ?)",
                        (int(cid), clean, col, int(position) if isinstance(position, int) else int(cid)))
            class_ids.add(int(cid))
        report.copied["classes"] = len(class_ids)
        paths: set[str] = set()
        labels = 0
        for iid, path, h, size, class_id, added_at in got["images"]:
            if not isinstance(path, str) or not isinstance(h, str) or path in paths:
                report.lost["images"] = report.lost.get("images", 0) + 1
                continue
            paths.add(path)
            cls = class_id if class_id in class_ids else None
            labels += cls is not None
            out.execute("INSERT INTO images (id, path, hash, size, class_id, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (int(iid), path, h, size if isinstance(size, int) else None, cls,
                         added_at if isinstance(added_at, (int, float)) else 0.0))
        report.copied["images"] = len(paths)
        report.copied["labels"] = labels
        n = 0
        for _, key, value in got["settings"]:
            problem = setting_problem(str(key), value)
            if problem:
                report.dropped.append(problem)
                continue
            out.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (str(key), value))
            n += 1
        report.copied["settings"] = n
        n = 0
        for h, backbone, vec in got["embeddings"]:
            if isinstance(h, str) and isinstance(backbone, str) and isinstance(vec, bytes) and vec and len(vec) % 4 == 0:
                out.execute("INSERT OR REPLACE INTO embeddings (hash, backbone, vec) VALUES (?, ?, ?)", (h, backbone, vec))
                n += 1
        report.copied["embeddings"] = n
        for _, backbone, fp in got["embedding_backbones"]:
            if isinstance(backbone, str) and isinstance(fp, str):
                out.execute("INSERT OR REPLACE INTO embedding_backbones (backbone, fingerprint) VALUES (?, ?)",
                            (backbone, fp))
        created = dict((str(k), v) for _, k, v in got["meta"]).get("created_at")
        if isinstance(created, str):
            out.execute("UPDATE meta SET value = ? WHERE key = 'created_at'", (created,))


__all__ = ["REQUIRED_TABLES", "RecoverReport", "check_project", "damaged", "recover_project", "setting_problem"]
