"""Salvaging a damaged project file (the checks that find the damage at open are in ``schema``).

``recover_project(src, dst)`` has the semantics of SQLite's ``.recover``: every readable row of
every table is copied into a new project, rows on damaged pages are skipped one by one (probing
by row id when a scan breaks), and settings that do not decode are dropped.  The damaged file is
never written: it is read from a private copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ProjectError
from .locate import check_destination, norm_abs
from .schema import setting_problem
from .store import Project

_PROBE_LIMIT = 2_000_000  # row ids probed one by one after a broken scan (an image table's size)

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
    src_p, dst_p = Path(norm_abs(src)), Path(norm_abs(dst))
    if not src_p.is_file():
        raise ProjectError(src_p, "no such project file")
    if src_p == dst_p:
        raise ProjectError(dst_p, "is the damaged file itself; choose a new file for the recovered copy")
    check_destination(dst_p, overwrite)
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


__all__ = ["RecoverReport", "recover_project"]
