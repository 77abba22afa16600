"""On-disk embedding cache: (image content hash, backbone id) -> float32 vector.

One SQLite table, the same one a project file holds, so a project and the
user-wide cache (``cache_dir()/embeddings.sqlite``) share the code:

    embeddings(hash TEXT, backbone TEXT, vec BLOB, PRIMARY KEY(hash, backbone))

WAL mode lets the GUI read while a background import writes, and lets two
processes (the app and a ``fewlens eval``) share the user cache.  Vectors are
stored as raw little-endian float32 bytes: compact and zero-copy to NumPy.

A backbone id names an architecture + weights + preprocessing.  If a
backbone's weights change under the same id (a fixed conversion, a user
re-exporting their ONNX file), :meth:`EmbeddingCache.check_backbone` drops
its stale vectors instead of serving them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from .errors import ProjectError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings(
    hash TEXT NOT NULL,
    backbone TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY(hash, backbone)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embedding_backbones(
    backbone TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
"""

# SQLite limits host parameters per statement (32766 on current builds, 999 on old ones)
_CHUNK = 900
_F32 = np.dtype("<f4")


def _vector(blob) -> np.ndarray | None:
    """A stored vector, or None for a damaged one (not bytes, torn): it is recomputed, not fatal."""
    if not isinstance(blob, bytes) or not blob or len(blob) % _F32.itemsize:
        return None
    return np.frombuffer(blob, dtype=_F32).astype(np.float32)


class EmbeddingCache:
    """Thread-safe: one connection guarded by a lock (the pipeline reads from worker threads)."""

    def __init__(self, db_path: os.PathLike | str | None = None, *, connection: sqlite3.Connection | None = None,
                 read_only_stale: set[str] | None = None):
        """Open (creating if needed) the cache at ``db_path``.

        ``connection``: share an already-open SQLite connection (a project file holds
        the same table); the caller keeps ownership of it and its journal mode.
        ``read_only_stale``: the connection is read-only (a project opened read-only): writes are
        skipped — the caller keeps its vectors in memory — and backbones whose stored weights
        fingerprint no longer matches are added to this (shared) set and read as empty.
        """
        if (db_path is None) == (connection is None):
            raise ValueError("give exactly one of db_path or connection")
        self._lock = threading.RLock()
        self._owns = connection is None
        self._ro_stale = read_only_stale
        if connection is not None:
            self.path = None
            self._db = connection
            if read_only_stale is None:
                self._init_schema()
            return
        self.path = Path(db_path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode; we open explicit transactions for batches
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable except on power loss
            self._init_schema()
        except sqlite3.OperationalError as e:  # locked by another process, I/O error: not corruption
            self._close_quietly()
            raise ProjectError(self.path, f"cannot open the embedding cache ({e})") from None
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            err = ProjectError(self.path, f"not an embedding cache (corrupt or another kind of file: {e})")
            err.corrupt = True
            raise err from None
        except OSError as e:
            raise ProjectError(self.path, f"cannot open the embedding cache ({e.strerror or e})") from None

    @classmethod
    def default(cls) -> "EmbeddingCache":
        """The user-wide cache.  It only holds recomputable data, so a corrupt file is set aside, not fatal."""
        from .paths import cache_dir

        path = cache_dir() / "embeddings.sqlite"
        try:
            return cls(path)
        except ProjectError as e:
            if not getattr(e, "corrupt", False):
                raise  # e.g. locked: never move a cache another process is using
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.warning("%s; moving it to %s and starting a new cache", e, aside.name)
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(path) + suffix)
                if src.exists():
                    src.replace(Path(str(aside) + suffix))
            return cls(path)

    def _init_schema(self) -> None:
        # Statement by statement: executescript() would COMMIT a transaction the owner of a
        # shared connection has open.
        with self._lock:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(stmt)

    # ------------------------------------------------------------------ queries
    def get_many(self, hashes: Iterable[str], backbone_id: str) -> dict[str, np.ndarray]:
        """Vectors for the hashes that are cached (missing ones are simply absent)."""
        keys = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        if self._ro_stale is not None and backbone_id in self._ro_stale:
            return out
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                q = f"SELECT hash, vec FROM embeddings WHERE backbone=? AND hash IN ({','.join('?' * len(chunk))})"
                for h, blob in self._db.execute(q, (backbone_id, *chunk)):
                    vec = _vector(blob)
                    if vec is not None:
                        out[h] = vec
        return out

    def get(self, file_hash: str, backbone_id: str) -> np.ndarray | None:
        if self._ro_stale is not None and backbone_id in self._ro_stale:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT vec FROM embeddings WHERE backbone=? AND hash=?", (backbone_id, file_hash)
            ).fetchone()
        return None if row is None else _vector(row[0])

    def put_many(self, backbone_id: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Insert or replace, in one transaction."""
        if not vectors or self._ro_stale is not None:
            return  # nothing to write to (read-only): the caller holds the vectors
        rows = [(h, backbone_id, np.ascontiguousarray(v, dtype=_F32).tobytes()) for h, v in vectors.items()]
        try:
            with self._lock, self._transaction():
                self._db.executemany("INSERT OR REPLACE INTO embeddings(hash, backbone, vec) VALUES (?,?,?)", rows)
        except sqlite3.Error as e:  # disk full, read-only folder, locked for too long
            reason = "the disk is full" if "full" in str(e) else str(e)
            raise ProjectError(self._where(), f"cannot write the embedding cache ({reason})") from None

    def count(self, backbone_id: str | None = None) -> int:
        with self._lock:
            if backbone_id is None:
                return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM embeddings WHERE backbone=?", (backbone_id,)).fetchone()[0]

    def delete_backbone(self, backbone_id: str) -> int:
        if self._ro_stale is not None:  # read-only: forget them for this session only
            self._ro_stale.add(backbone_id)
            return 0
        with self._lock, self._transaction():
            cur = self._db.execute("DELETE FROM embeddings WHERE backbone=?", (backbone_id,))
            return cur.rowcount

    def check_backbone(self, backbone_id: str, fingerprint: str) -> bool:
        """Record which weights/preprocessing ``backbone_id`` means; drop its vectors if that changed.

        Returns True when cached vectors were invalidated.
        """
        if self._ro_stale is not None:  # read-only: compare only, and read a changed backbone as empty
            try:
                row = self._db.execute("SELECT fingerprint FROM embedding_backbones WHERE backbone=?",
                                       (backbone_id,)).fetchone()
            except sqlite3.OperationalError:  # no such table: nothing was ever cached
                row = None
            if row is None or row[0] == fingerprint:
                return False
            self._ro_stale.add(backbone_id)
            return True
        with self._lock, self._transaction():
            row = self._db.execute(
                "SELECT fingerprint FROM embedding_backbones WHERE backbone=?", (backbone_id,)
            ).fetchone()
            if row is not None and row[0] == fingerprint:
                return False
            stale = row is not None
            if stale:
                self._db.execute("DELETE FROM embeddings WHERE backbone=?", (backbone_id,))
            self._db.execute(
                "INSERT OR REPLACE INTO embedding_backbones(backbone, fingerprint) VALUES (?,?)",
                (backbone_id, fingerprint),
            )
        if stale:
            log.info("embedding cache: %s changed, cached vectors dropped", backbone_id)
        return stale

    # ------------------------------------------------------------------ plumbing
    def _where(self) -> str:
        """The file to name in a message: ours, or the shared connection's (a project file)."""
        if self.path is not None:
            return str(self.path)
        try:
            for _, name, file in self._db.execute("PRAGMA database_list"):
                if name == "main" and file:
                    return file
        except sqlite3.Error:
            pass
        return "embedding cache"

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self_inner):
                # a shared connection may already be inside the caller's transaction
                self_inner.nested = db.in_transaction
                if not self_inner.nested:
                    db.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, exc, tb):
                if self_inner.nested:
                    return False
                if exc_type is None:
                    db.execute("COMMIT")
                elif db.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                    db.execute("ROLLBACK")
                return False

        return _Tx()

    def _close_quietly(self) -> None:
        try:
            if getattr(self, "_db", None) is not None:
                self._db.close()
        except Exception:
            pass

    def close(self) -> None:
        if self._owns:
            with self._lock:
                self._db.close()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path) if self.path else 'shared connection'!r})"


__all__ = ["EmbeddingCache"]
