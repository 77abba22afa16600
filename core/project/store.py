"""The project store: opening, connections, Save As, and the images of a project.

The file's format lives in ``schema``, paths and the file search in ``locate``, classes, labels
and settings in ``labels``; ``core.project`` re-exports the public names.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from .. import adapted_store, project_lock
from ..embedding_cache import EmbeddingCache
from ..errors import ProjectError
from . import schema
from .labels import ClassesLabelsSettings
from .locate import (check_destination, existing_files, from_stored, locate_missing, move_into_place, norm_abs,
                     resolver, to_stored, unlink_quietly)
from .records import ANY, ImageRecord, ProjectCounts, RemovedImage
from .schema import (APPLICATION_ID, SCHEMA_SQL, SCHEMA_VERSION, ReadOnlyProjectError, check_header, damaged,
                     validate_and_migrate)
from .txn import Translating, WriteTxn, reads


def _now() -> float:
    return time.time()


class ProjectEmbeddingCache:
    """The project's embedding cache: ``core.embedding_cache.EmbeddingCache`` on the project
    file (same tables, vector format and stale-weights check), used through the calling
    thread's connection.  Writes also take the project's write lock."""

    def __init__(self, project: Project):
        self._project = project
        self._local = threading.local()
        self._ro_stale: set[str] = set()  # read-only project: backbones whose stored vectors are stale

    def _cache(self) -> EmbeddingCache:
        con = self._project._conn()
        if getattr(self._local, "con", None) is not con:
            self._local.cache = EmbeddingCache(connection=con,
                                               read_only_stale=self._ro_stale if self._project.read_only else None)
            self._local.con = con
        return self._local.cache

    def _reading(self):
        """Damage in the (large, unchecked at open) embedding table: a ProjectError naming the file."""
        return Translating(self._project)

    def get_many(self, hashes: Iterable[str], backbone_id: str) -> dict[str, np.ndarray]:
        with self._reading():
            return self._cache().get_many(hashes, backbone_id)

    def get(self, file_hash: str, backbone_id: str) -> np.ndarray | None:
        with self._reading():
            return self._cache().get(file_hash, backbone_id)

    def count(self, backbone_id: str | None = None) -> int:
        with self._reading():
            return self._cache().count(backbone_id)

    def put_many(self, backbone_id: str, vectors: Mapping[str, np.ndarray]) -> None:
        with self._project._write_lock:
            self._cache().put_many(backbone_id, vectors)

    def check_backbone(self, backbone_id: str, fingerprint: str) -> bool:
        with self._project._write_lock:
            return self._cache().check_backbone(backbone_id, fingerprint)

    def delete_backbone(self, backbone_id: str) -> int:
        with self._project._write_lock:
            return self._cache().delete_backbone(backbone_id)

    def backbones(self) -> dict[str, int]:
        """Cached vector count per backbone id."""
        with self._reading():
            rows = self._project._conn().execute("SELECT backbone, COUNT(*) FROM embeddings GROUP BY backbone")
            return dict(rows)


class Project(ClassesLabelsSettings):
    """An open project file.  Create with ``Project.create`` / ``Project.open``."""

    def __init__(self, path: Path, _token: object = None):
        if _token is not _OPEN_TOKEN:
            raise TypeError("use Project.open(path) or Project.create(path)")
        self.path = path
        self.folder = str(path.parent)
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self._lock: project_lock.ProjectLock | None = None
        self.read_only = False  # set by open_read_only: every write raises a ProjectError saying so
        self.embedding_cache = ProjectEmbeddingCache(self)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: os.PathLike | str, overwrite: bool = False) -> Project:
        """Create a new, empty project at ``path`` (built under a temporary name, then renamed
        into place, so a crash never leaves a half-made project)."""
        path = Path(norm_abs(path))
        p = os.fspath(path)
        check_destination(path, overwrite)
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            os.unlink(tmp)  # SQLite creates it
            con = sqlite3.connect(tmp, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=DELETE")
                con.execute(f"PRAGMA application_id={APPLICATION_ID}")
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                con.executescript("BEGIN;" + SCHEMA_SQL + adapted_store.SCHEMA + "COMMIT;")
                EmbeddingCache(connection=con)  # its tables, exactly as the shared cache has them
                con.execute("BEGIN")
                now = _now()
                con.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("format", "fewlens-project"),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("app_version", __version__),
                        ("created_at", repr(now)),
                    ],
                )
                con.execute("COMMIT")
                con.execute("PRAGMA journal_mode=WAL")
            finally:
                con.close()
            move_into_place(tmp, p)
        except (sqlite3.Error, OSError) as e:
            unlink_quietly(tmp)
            raise ProjectError(p, f"cannot create the project: {getattr(e, 'strerror', None) or e}") from None
        return cls.open(path)

    @classmethod
    def open(cls, path: os.PathLike | str) -> Project:
        """Open an existing project; ``ProjectError`` (naming the file) if it is not one, is
        from a newer FewLens, or cannot be read or written."""
        return cls._open(path, read_only=False)

    def _connect(self) -> sqlite3.Connection:
        p = os.fspath(self.path)
        try:
            con = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=schema.BUSY_TIMEOUT_MS / 1000)
            con.execute(f"PRAGMA busy_timeout={schema.BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys=ON")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise ProjectError(p, f"cannot enable write-ahead logging (journal mode {mode})")
            con.execute("PRAGMA synchronous=NORMAL")  # see "Durability" in the module docstring
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # garbled text reads as damage too
            raise self._translate(e) from None
        return con

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (see module docstring: one per thread)."""
        con = getattr(self._local, "con", None)
        if con is None:
            if self._closed:
                raise ProjectError(self.path, "the project is closed")
            con = self._connect_read_only() if self.read_only else self._connect()
            self._local.con = con
            with self._conns_lock:
                self._all_conns.append(con)
        return con

    @classmethod
    def open_any(cls, path: os.PathLike | str) -> Project:
        """``open``, falling back to ``open_read_only`` when the file or its folder is read-only."""
        try:
            return cls.open(path)
        except ReadOnlyProjectError:
            return cls.open_read_only(path)

    @classmethod
    def open_read_only(cls, path: os.PathLike | str) -> Project:
        """Open without ever writing (a file on a read-only disk, someone else's folder): views
        work, every change raises a ProjectError naming the file; Save As makes a writable copy."""
        return cls._open(path, read_only=True)

    @classmethod
    def _open(cls, path: os.PathLike | str, read_only: bool) -> Project:
        path = Path(norm_abs(path))
        lock = check_header(path, read_only_ok=read_only)
        proj = cls(path, _OPEN_TOKEN)
        proj._lock = lock
        proj.read_only = read_only
        try:
            validate_and_migrate(proj)
        except BaseException:
            proj.close()
            raise
        return proj

    def _connect_read_only(self) -> sqlite3.Connection:
        from urllib.parse import quote

        uri = "file:" + quote(os.fspath(self.path))
        last: sqlite3.Error | None = None
        # mode=ro reads the WAL when the -shm can be made; a read-only folder needs immutable=1
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                con = sqlite3.connect(uri + query, uri=True, isolation_level=None, check_same_thread=False)
                con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return con
            except (sqlite3.Error, UnicodeDecodeError) as e:
                last = e
        raise self._translate(last) from None

    def locate(self, folder: os.PathLike | str, progress: Callable[[int, int], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> int:
        """Re-link missing images to files under ``folder`` with the same content hash (see
        :func:`core.project.locate.locate_missing`).  Returns how many were re-linked."""
        return locate_missing(self, folder, progress, cancel)

    def _write(self) -> WriteTxn:
        return WriteTxn(self)

    def _translate(self, e: sqlite3.Error) -> ProjectError:
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return ProjectError(self.path, "the project is locked by another program; close it there and retry")
        if any(k in msg for k in ("not a database", "malformed", "no such table", "no such column", "decode")):
            return damaged(self.path, msg)
        if "readonly" in msg or "read-only" in msg:
            return ProjectError(self.path, "the project file is read-only; use Save As to copy it")
        if "full" in msg:
            return ProjectError(self.path, "cannot write the project: the disk is full")
        if "disk I/O" in msg:
            return ProjectError(self.path, "cannot write the project: disk I/O error")
        if "unable to open" in msg:
            return ProjectError(self.path, "cannot open the project file")
        return ProjectError(self.path, msg)

    def close(self) -> None:
        """Close every connection (checkpointing the WAL into the main file)."""
        if self._closed:
            return
        self._closed = True
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for con in conns:
            try:
                con.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()
        if self._lock is not None:  # only now: closing its descriptor earlier would drop SQLite's locks
            self._lock.release()
            self._lock = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({os.fspath(self.path)!r}{', closed' if self._closed else ''})"

    @reads
    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result: ``"ok"`` for a sound file."""
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]

    # -- save as ------------------------------------------------------------------------------

    def save_as(self, new_path: os.PathLike | str, overwrite: bool = False) -> Project:
        """Write a consistent copy to ``new_path`` and return it opened (this project stays
        open).  Image paths are re-relativized against the new location, so the copy points
        at the same files."""
        dst = Path(norm_abs(new_path))
        d = os.fspath(dst)
        if dst == self.path:
            raise ProjectError(d, "is this project's own file; choose another name")
        check_destination(dst, overwrite)
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
            os.close(fd)
            out = sqlite3.connect(tmp, isolation_level=None)
            try:
                # The backup API copies a snapshot that is consistent even while others write.
                self._conn().backup(out)
                new_folder = str(dst.parent)
                rows = out.execute("SELECT id, path FROM images").fetchall()
                updates = []
                for img_id, stored in rows:
                    new_stored = to_stored(from_stored(stored, self.folder), new_folder)
                    if new_stored != stored:
                        updates.append((new_stored, img_id))
                out.execute("BEGIN")
                # Two passes through unique temporary names keep the UNIQUE(path) constraint
                # from firing while paths swap (e.g. 'a.jpg' <-> '../x/a.jpg').
                out.executemany("UPDATE images SET path = ? WHERE id = ?", [(f"\x00{i}", i) for _, i in updates])
                out.executemany("UPDATE images SET path = ? WHERE id = ?", updates)
                out.execute("COMMIT")
                out.execute("PRAGMA journal_mode=DELETE")  # single self-contained file until opened
            finally:
                out.close()
            move_into_place(tmp, d)
        except (sqlite3.Error, OSError) as e:
            unlink_quietly(tmp)
            raise ProjectError(d, f"cannot save a copy: {getattr(e, 'strerror', None) or e}") from None
        return Project.open(dst)

    # -- images -------------------------------------------------------------------------------

    def add_images(self, paths_and_hashes: Sequence[tuple[os.PathLike | str, str]]) -> list[int]:
        """Add images (one transaction).  Returns their ids in input order; a path already in
        the project (or repeated in the input) maps to its existing id and is not duplicated."""
        stored: list[tuple[str, str, int | None]] = []
        for path, h in paths_and_hashes:
            ap = norm_abs(path)
            try:
                size = os.stat(ap).st_size
            except OSError:
                size = None
            stored.append((to_stored(ap, self.folder), str(h), size))
        ids: list[int] = []
        now = _now()
        with self._write() as con:
            known: dict[str, int] = {}
            for i in range(0, len(stored), 500):
                chunk = [s for s, _, _ in stored[i : i + 500]]
                q = f"SELECT path, id FROM images WHERE path IN ({','.join('?' * len(chunk))})"
                known.update(con.execute(q, chunk).fetchall())
            for sp, h, size in stored:
                img_id = known.get(sp)
                if img_id is None:
                    cur = con.execute(
                        "INSERT INTO images (path, hash, size, class_id, added_at) VALUES (?, ?, ?, NULL, ?)",
                        (sp, h, size, now),
                    )
                    img_id = cur.lastrowid
                    known[sp] = img_id
                ids.append(img_id)
        return ids

    def _record_rows(self, rows: list[tuple], check_missing: bool) -> list[ImageRecord]:
        resolve = resolver(self.folder)
        abs_paths = [resolve(r[1]) for r in rows]
        new = tuple.__new__
        if not check_missing:
            return [new(ImageRecord, (r[0], ap, r[2], r[3], False)) for r, ap in zip(rows, abs_paths)]
        present = existing_files(abs_paths)
        return [new(ImageRecord, (r[0], ap, r[2], r[3], ap not in present)) for r, ap in zip(rows, abs_paths)]

    @reads
    def images(
        self,
        ids: Iterable[int] | None = None,
        class_id: int | None = ANY,
        labeled: bool | None = None,
        check_missing: bool = True,
    ) -> list[ImageRecord]:
        """Image records ordered by id.  Filters: ``ids``; ``class_id`` (an id, or ``None`` for
        unlabeled); ``labeled`` True/False.  ``check_missing=False`` skips the file-system
        scan (``missing`` is then always False)."""
        where, args = [], []
        if class_id is not ANY:
            if class_id is None:
                where.append("class_id IS NULL")
            else:
                where.append("class_id = ?")
                args.append(int(class_id))
        if labeled is True:
            where.append("class_id IS NOT NULL")
        elif labeled is False:
            where.append("class_id IS NULL")
        con = self._conn()
        base = "SELECT id, path, hash, class_id FROM images"
        if ids is not None:
            id_list = [int(i) for i in ids]
            rows: list[tuple] = []
            for i in range(0, len(id_list), 500):
                chunk = id_list[i : i + 500]
                w = where + [f"id IN ({','.join('?' * len(chunk))})"]
                rows += con.execute(f"{base} WHERE {' AND '.join(w)}", args + chunk).fetchall()
            rows.sort()
        else:
            q = base + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
            rows = con.execute(q, args).fetchall()
        return self._record_rows(rows, check_missing)

    def image(self, image_id: int) -> ImageRecord:
        recs = self.images(ids=[image_id])
        if not recs:
            raise ProjectError(self.path, f"no image with id {image_id}")
        return recs[0]

    @reads
    def image_count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM images").fetchone()[0]

    @reads
    def counts(self) -> ProjectCounts:
        con = self._conn()
        n, labeled = con.execute("SELECT COUNT(*), COUNT(class_id) FROM images").fetchone()
        k = con.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
        return ProjectCounts(images=n, labeled=labeled, unlabeled=n - labeled, classes=k)

    def missing_images(self) -> list[ImageRecord]:
        return [r for r in self.images() if r.missing]

    def remove_images(self, ids: Iterable[int]) -> list[RemovedImage]:
        """Remove images from the project (never from disk); returns what ``restore_images``
        needs to undo it.  Their cached embeddings stay (keyed by hash, cheap to keep)."""
        id_list = list(dict.fromkeys(int(i) for i in ids))
        removed: list[RemovedImage] = []
        with self._write() as con:
            for i in range(0, len(id_list), 500):
                chunk = id_list[i : i + 500]
                marks = ",".join("?" * len(chunk))
                removed += [
                    RemovedImage(*r)
                    for r in con.execute(
                        f"SELECT id, path, hash, size, class_id, added_at, labeled_by FROM images WHERE id IN ({marks})", chunk
                    )
                ]
                con.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)
        removed.sort(key=lambda r: r.id)
        return removed

    def restore_images(self, removed: Iterable[RemovedImage]) -> None:
        """Undo ``remove_images``: same ids, paths, labels (a label whose class has since been
        deleted is dropped)."""
        with self._write() as con:
            class_ids = {r[0] for r in con.execute("SELECT id FROM classes")}
            con.executemany(
                "INSERT OR REPLACE INTO images (id, path, hash, size, class_id, added_at, labeled_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.id, r.stored_path, r.hash, r.size, r.class_id if r.class_id in class_ids else None, r.added_at,
                     r.labeled_by if r.class_id in class_ids else None)
                    for r in removed
                ],
            )

    def relink(self, image_id: int, new_path: os.PathLike | str) -> None:
        """Point one image at a new file (the user located it by hand)."""
        ap = norm_abs(new_path)
        try:
            size = os.stat(ap).st_size
        except OSError:
            raise ProjectError(ap, "cannot relink: file not found") from None
        with self._write() as con:
            try:
                cur = con.execute(
                    "UPDATE images SET path = ?, size = ? WHERE id = ?", (to_stored(ap, self.folder), size, image_id)
                )
            except sqlite3.IntegrityError:
                raise ProjectError(ap, "cannot relink: this file is already in the project") from None
            if cur.rowcount == 0:
                raise ProjectError(self.path, f"no image with id {image_id}")


_OPEN_TOKEN = object()
