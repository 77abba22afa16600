"""The adapted backbone, saved in the project so that reopening it predicts at once.

One row per project (the newest adaptation; an older one can never apply again once the labels
moved on), keyed by the labels key (``core.adapted_features.labels_key``: backbone + rows + labels).  It
holds what a reopened session needs to predict without adapting again:

- ``weights``: the trained stage only (``core.adaptation.trained_state``; the rest is the
  pretrained backbone, rebuilt from its own file), ~7 MB for MobileNetV2;
- ``rows``: the adapted embeddings of every row (float32, exactly what the gallery showed) with
  the ids, labels and "unreadable" flags they are aligned with.  Re-embedding a project with the
  stored network would take as long as the adaptation's own re-embedding (~15 min at 10k images on
  the loaded 2-core box), while reading the blobs back is a fraction of the few seconds that
  rebuilding the network takes (bench/bench_adapted_store.py, BENCHMARKS.md).

The write is one transaction (SQLite WAL: a kill leaves the old row or the new one, never half).
A damaged row raises :class:`AdaptedStoreError` (one line naming the project); the caller adapts
again and overwrites it.  The table comes with project format 3 (:func:`migrate`); a project that
lacks it (read-only, older) simply has nothing stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FewLensError

TABLE = "adapted_backbones"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    labels_key  TEXT PRIMARY KEY,
    backbone    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,   -- core.adaptation.AdaptedBackbone.fingerprint of the weights
    saved_at    REAL NOT NULL,
    meta        TEXT NOT NULL,   -- JSON: cut, n_labels, weight keys, sha256 of rows
    weights     BLOB NOT NULL,   -- npz of the trained stage's state_dict entries
    rows        BLOB NOT NULL    -- npz: ids, labels, unreadable, have, embeddings
);
"""


class AdaptedStoreError(FewLensError):
    """The saved adapted model cannot be used (damaged, or from another FewLens)."""


def migrate(con: sqlite3.Connection) -> None:
    """Project format 2 -> 3: the table (inside the caller's transaction)."""
    con.execute(SCHEMA)


@dataclass
class StoredAdaptation:
    key: str
    backbone: str
    fingerprint: str
    cut: int
    n_labels: int
    ids: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64, the labels it was trained on (UNLABELED for the pool)
    unreadable: np.ndarray  # (N,) bool
    have: np.ndarray  # (N,) bool: rows with an adapted vector
    embeddings: np.ndarray  # (N, D) float32, zeros where not have
    weights: dict  # name -> array: core.adaptation.trained_state

    def network(self, device: str = "cpu"):
        """The adapted network (torch + its ONNX Runtime session); AdaptedStoreError when the
        weights do not rebuild or are not the ones saved."""
        from .adaptation import network_from_state

        try:
            return network_from_state(self.backbone, self.cut, self.weights, device=device,
                                      fingerprint=self.fingerprint)
        except (ValueError, RuntimeError, KeyError) as e:
            raise AdaptedStoreError(f"the saved adapted model cannot be rebuilt ({e}); adapting again") from None


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unnpz(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save(project, key: str, network, ids: np.ndarray, labels: np.ndarray, n_labels: int,
         unreadable: np.ndarray, have: np.ndarray, embeddings: np.ndarray) -> int:
    """Replace the project's saved adaptation with this one (one transaction); returns its bytes.
    ProjectError (read-only, disk full, locked) as the project raises it."""
    from .adaptation import trained_state

    state = trained_state(network)
    weights = _npz(state)
    rows = _npz({"ids": np.asarray(ids, np.int64), "labels": np.asarray(labels, np.int64),
                 "unreadable": np.asarray(unreadable, bool), "have": np.asarray(have, bool),
                 "embeddings": np.ascontiguousarray(embeddings, np.float32)})
    meta = json.dumps({"cut": int(network.cut), "n_labels": int(n_labels), "keys": list(state),
                       "rows_sha256": hashlib.sha256(rows).hexdigest(),
                       "weights_sha256": hashlib.sha256(weights).hexdigest()})
    with project._write() as con:  # the project's write lock + BEGIN IMMEDIATE ... COMMIT
        con.execute(SCHEMA)  # a project whose migration predates the table (never on format >= 3)
        con.execute(f"DELETE FROM {TABLE}")
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, network.spec.id, network.fingerprint, time.time(), meta, weights, rows))
    return len(weights) + len(rows)


def stored_key(project) -> tuple[str, str] | None:
    """(labels key, backbone) of the saved adaptation, without reading its blobs; None if none."""
    try:
        row = project._conn().execute(f"SELECT labels_key, backbone FROM {TABLE} LIMIT 1").fetchone()
    except sqlite3.Error:  # no table (an old or read-only project): nothing saved
        return None
    return (str(row[0]), str(row[1])) if row else None


def load(project, key: str | None = None) -> StoredAdaptation | None:
    """The saved adaptation for ``key`` (None: whichever is saved), or None when there is none.
    AdaptedStoreError (naming the project) when the row is damaged."""
    where = Path(project.path).name
    try:
        con = project._conn()
        sql = f"SELECT backbone, fingerprint, meta, weights, rows, labels_key FROM {TABLE}"
        row = (con.execute(sql + " LIMIT 1") if key is None else
               con.execute(sql + " WHERE labels_key = ?", (key,))).fetchone()
    except sqlite3.DatabaseError as e:
        if "no such table" in str(e):
            return None
        raise AdaptedStoreError(f"{where}: the saved adapted model cannot be read ({e}); adapting again") from None
    if row is None:
        return None
    backbone, fingerprint, meta_text, weights, rows, key = row
    try:
        meta = json.loads(meta_text)
        if hashlib.sha256(weights).hexdigest() != meta["weights_sha256"] or \
                hashlib.sha256(rows).hexdigest() != meta["rows_sha256"]:
            raise ValueError("checksum mismatch")
        state = _unnpz(weights)
        state = {k: state[k] for k in meta["keys"]}
        r = _unnpz(rows)
        out = StoredAdaptation(key, str(backbone), str(fingerprint), int(meta["cut"]), int(meta["n_labels"]),
                               r["ids"].astype(np.int64), r["labels"].astype(np.int64), r["unreadable"].astype(bool),
                               r["have"].astype(bool), r["embeddings"].astype(np.float32, copy=False), state)
        n = len(out.ids)
        if not (len(out.labels) == len(out.unreadable) == len(out.have) == len(out.embeddings) == n):
            raise ValueError("rows of different lengths")
    except (ValueError, KeyError, TypeError, OSError) as e:  # np.load raises ValueError / OSError on junk
        raise AdaptedStoreError(f"{where}: the saved adapted model is damaged ({e}); adapting again") from None
    return out


def clear(project) -> None:
    """Forget the saved adaptation (e.g. adapting switched off for good)."""
    try:
        with project._write() as con:
            con.execute(f"DELETE FROM {TABLE}")
    except FewLensError:
        pass


__all__ = ["AdaptedStoreError", "SCHEMA", "StoredAdaptation", "TABLE", "clear", "load", "migrate", "save",
           "stored_key"]
