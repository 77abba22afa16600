"""Classes, labels and settings of a project: the part of ``Project`` the views edit most."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ProjectError
from ..palette import auto_color, normalize_color
from .records import ClassInfo, DeletedClass, LabelChange
from .schema import LABELED_BY_USER
from .txn import reads


class ClassesLabelsSettings:
    """Mixed into ``Project``: needs its ``_write()``, ``_conn()`` and ``path``."""

    # -- classes ------------------------------------------------------------------------------

    @reads
    def classes(self) -> list[ClassInfo]:
        """Classes in display order, each with its labeled-image count."""
        rows = self._conn().execute(
            "SELECT c.id, c.name, c.color, c.position, "
            "(SELECT COUNT(*) FROM images i WHERE i.class_id = c.id) "
            "FROM classes c ORDER BY c.position, c.id"
        )
        return [ClassInfo(*r) for r in rows]

    def class_info(self, class_id: int) -> ClassInfo:
        for c in self.classes():
            if c.id == class_id:
                return c
        raise ProjectError(self.path, f"no class with id {class_id}")

    def class_by_name(self, name: str) -> ClassInfo | None:
        key = name.strip().casefold()
        for c in self.classes():
            if c.name.casefold() == key:
                return c
        return None

    def _check_name(self, con: sqlite3.Connection, name: str, exclude_id: int | None = None) -> str:
        clean = " ".join(name.split())
        if not clean:
            raise ProjectError(self.path, "a class name cannot be empty")
        key = clean.casefold()
        for cid, other in con.execute("SELECT id, name FROM classes"):
            if cid != exclude_id and other.casefold() == key:
                raise ProjectError(self.path, f"a class named {other!r} already exists")
        return clean

    def add_class(self, name: str, color: str | None = None) -> int:
        """Add a class at the end of the list; a distinct color is picked when none is given."""
        with self._write() as con:
            clean = self._check_name(con, name)
            used = {c.upper() for (c,) in con.execute("SELECT color FROM classes")}
            n = con.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
            col = normalize_color(color, os.fspath(self.path)) if color else auto_color(n, used)
            pos = con.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM classes").fetchone()[0]
            cur = con.execute("INSERT INTO classes (name, color, position) VALUES (?, ?, ?)", (clean, col, pos))
            return cur.lastrowid

    def rename_class(self, class_id: int, name: str) -> str:
        """Rename; returns the previous name (for undo)."""
        with self._write() as con:
            row = con.execute("SELECT name FROM classes WHERE id = ?", (class_id,)).fetchone()
            if row is None:
                raise ProjectError(self.path, f"no class with id {class_id}")
            clean = self._check_name(con, name, exclude_id=class_id)
            con.execute("UPDATE classes SET name = ? WHERE id = ?", (clean, class_id))
            return row[0]

    def set_class_color(self, class_id: int, color: str) -> str:
        """Set the color (#RRGGBB); returns the previous one (for undo)."""
        col = normalize_color(color, os.fspath(self.path))
        with self._write() as con:
            row = con.execute("SELECT color FROM classes WHERE id = ?", (class_id,)).fetchone()
            if row is None:
                raise ProjectError(self.path, f"no class with id {class_id}")
            con.execute("UPDATE classes SET color = ? WHERE id = ?", (col, class_id))
            return row[0]

    def reorder_classes(self, class_ids: Sequence[int]) -> list[int]:
        """Set the display order; ``class_ids`` must list every class once.  Returns the
        previous order (for undo)."""
        with self._write() as con:
            before = [r[0] for r in con.execute("SELECT id FROM classes ORDER BY position, id")]
            if sorted(before) != sorted(int(c) for c in class_ids) or len(set(class_ids)) != len(class_ids):
                raise ProjectError(self.path, "reorder_classes needs every class id exactly once")
            con.executemany("UPDATE classes SET position = ? WHERE id = ?", [(i, int(c)) for i, c in enumerate(class_ids)])
            return before

    def delete_class(self, class_id: int) -> DeletedClass:
        """Delete a class; its images become unlabeled (they stay in the project)."""
        with self._write() as con:
            return self._delete_class(con, class_id)

    def _delete_class(self, con: sqlite3.Connection, class_id: int) -> DeletedClass:
        row = con.execute("SELECT id, name, color, position FROM classes WHERE id = ?", (class_id,)).fetchone()
        if row is None:
            raise ProjectError(self.path, f"no class with id {class_id}")
        img_ids = tuple(r[0] for r in con.execute("SELECT id FROM images WHERE class_id = ? ORDER BY id", (class_id,)))
        con.execute("UPDATE images SET class_id = NULL WHERE class_id = ?", (class_id,))
        con.execute("DELETE FROM classes WHERE id = ?", (class_id,))
        return DeletedClass(row[0], row[1], row[2], row[3], img_ids)

    def restore_class(self, deleted: DeletedClass | Iterable[DeletedClass]) -> None:
        """Undo ``delete_class`` / ``merge_classes``: re-create the class with its id, name,
        color and position and give its images their label back (images removed since are
        skipped)."""
        items = [deleted] if isinstance(deleted, DeletedClass) else list(deleted)
        with self._write() as con:
            for d in items:
                try:
                    con.execute(
                        "INSERT INTO classes (id, name, color, position) VALUES (?, ?, ?, ?)",
                        (d.id, d.name, d.color, d.position),
                    )
                except sqlite3.IntegrityError:
                    raise ProjectError(self.path, f"cannot restore class {d.name!r}: the name or id is taken") from None
                for i in range(0, len(d.image_ids), 500):
                    chunk = d.image_ids[i : i + 500]
                    con.execute(
                        f"UPDATE images SET class_id = ? WHERE id IN ({','.join('?' * len(chunk))})", (d.id, *chunk)
                    )

    def merge_classes(self, src_ids: Iterable[int], dst_id: int) -> list[DeletedClass]:
        """Relabel every image of ``src_ids`` as ``dst_id`` and delete the sources.  Undo:
        ``restore_class(result)``."""
        srcs = [int(s) for s in dict.fromkeys(src_ids) if int(s) != dst_id]
        with self._write() as con:
            if con.execute("SELECT 1 FROM classes WHERE id = ?", (dst_id,)).fetchone() is None:
                raise ProjectError(self.path, f"no class with id {dst_id}")
            out = []
            for s in srcs:
                d = self._delete_class(con, s)
                if d.image_ids:
                    for i in range(0, len(d.image_ids), 500):
                        chunk = d.image_ids[i : i + 500]
                        con.execute(
                            f"UPDATE images SET class_id = ? WHERE id IN ({','.join('?' * len(chunk))})",
                            (dst_id, *chunk),
                        )
                out.append(d)
            return out

    # -- labels -------------------------------------------------------------------------------

    def set_labels(self, image_ids: Iterable[int], class_id: int | None,
                   labeled_by: str = LABELED_BY_USER) -> LabelChange:
        """Label (or unlabel with ``None``) images.  Returns each image's previous class id
        (and provenance), so ``apply_labels(previous)`` undoes it."""
        id_list = list(dict.fromkeys(int(i) for i in image_ids))
        prev: dict[int, int | None] = {}
        prev_by: dict[int, str | None] = {}
        source = None if class_id is None else labeled_by
        with self._write() as con:
            if class_id is not None and con.execute("SELECT 1 FROM classes WHERE id = ?", (class_id,)).fetchone() is None:
                raise ProjectError(self.path, f"no class with id {class_id}")
            for i in range(0, len(id_list), 500):
                chunk = id_list[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for i, c, by in con.execute(f"SELECT id, class_id, labeled_by FROM images WHERE id IN ({marks})", chunk):
                    prev[i], prev_by[i] = c, by
                con.execute(f"UPDATE images SET class_id = ?, labeled_by = ? WHERE id IN ({marks})",
                            (class_id, source, *chunk))
        return _change(prev, prev_by, id_list)

    def apply_labels(self, labels: Mapping[int, int | None], labeled_by: str = LABELED_BY_USER) -> LabelChange:
        """Set each image's label individually (undo/redo of ``set_labels``).  Labels pointing
        at a class that no longer exists become ``None``.  Provenance comes from
        ``labels.labeled_by`` when ``labels`` is a LabelChange (undo), else ``labeled_by``.
        Returns the previous labels."""
        wanted = {int(i): c for i, c in labels.items()}
        given_by = getattr(labels, "labeled_by", None)
        ids = list(wanted)
        prev: dict[int, int | None] = {}
        prev_by: dict[int, str | None] = {}
        with self._write() as con:
            class_ids = {r[0] for r in con.execute("SELECT id FROM classes")}
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                q = f"SELECT id, class_id, labeled_by FROM images WHERE id IN ({','.join('?' * len(chunk))})"
                for i, c, by in con.execute(q, chunk):
                    prev[i], prev_by[i] = c, by
            rows = []
            for i, c in wanted.items():
                if i in prev:
                    c = c if c in class_ids else None
                    by = (given_by.get(i) if given_by is not None else labeled_by) if c is not None else None
                    rows.append((c, by, i))
            con.executemany("UPDATE images SET class_id = ?, labeled_by = ? WHERE id = ?", rows)
        return _change(prev, prev_by, ids)

    @reads
    def labels(self) -> dict[int, int]:
        """``{image_id: class_id}`` for every labeled image."""
        return dict(self._conn().execute("SELECT id, class_id FROM images WHERE class_id IS NOT NULL ORDER BY id"))

    def label_sources(self) -> dict[int, str]:
        """``{image_id: 'user' | 'prediction'}`` for every labeled image (who set the label)."""
        q = "SELECT id, COALESCE(labeled_by, ?) FROM images WHERE class_id IS NOT NULL ORDER BY id"
        return dict(self._conn().execute(q, (LABELED_BY_USER,)))

    # -- settings -----------------------------------------------------------------------------

    @reads
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._conn().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            raise ProjectError(self.path, f"setting {key!r} must be JSON-serializable, got {type(value).__name__}") from None
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, text))

    @reads
    def settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._conn().execute("SELECT key, value FROM settings")}

    @reads
    def meta(self) -> dict[str, str]:
        """Format bookkeeping: schema_version, app_version, created_at."""
        return dict(self._conn().execute("SELECT key, value FROM meta"))


def _change(prev: dict, prev_by: dict, ids: list[int]) -> LabelChange:
    out = LabelChange((i, prev[i]) for i in ids if i in prev)
    out.labeled_by = {i: prev_by[i] for i in out}
    return out
