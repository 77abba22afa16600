"""The session's image rows: adding imported files, background embeddings, removing and restoring
(undo), keeping id order, relinking missing files.

A mixin of :class:`app.session.ProjectSession` (its arrays, signals and ``request_refit``): the same
rule holds here — the project first, then the row-aligned arrays, then a signal.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.live_model import UNLABELED, EmbeddingMatrix, take_rows
from core.project import RemovedImage


class SessionImages:
    """Row mutations of ProjectSession (see the module docstring)."""

    def add_images(self, paths: list[Path], hashes: list[str], vecs: np.ndarray | None,
                   labels: list[int | None] | None = None) -> np.ndarray:
        """Add imported files (with their embeddings when known).  Returns their rows.
        Paths already in the project keep their row (and get the new embedding)."""
        ids = self.project.add_images(list(zip(paths, hashes)))
        new_rows: list[int] = []
        n_old = n = len(self.ids)
        rows = np.empty(len(ids), np.int64)
        for k, (img_id, p, h) in enumerate(zip(ids, paths, hashes)):
            r = self._row_of.get(img_id)
            if r is None:
                r = len(self.files)
                self._row_of[img_id] = r
                self.files.append(os.fspath(p))
                self.hashes.append(h)
                new_rows.append(img_id)
            rows[k] = r
        if new_rows:
            n_old, n = len(self.ids), len(self.files)
            self.ids = np.concatenate([self.ids, np.asarray(new_rows, np.int64)])
            self.labels = np.concatenate([self.labels, np.full(n - n_old, UNLABELED, np.int64)])
            self.missing = np.concatenate([self.missing, np.zeros(n - n_old, bool)])
            self.emb.resize(n)
            self._grow_predictions(n)
        if vecs is not None and len(vecs):
            self.emb.set_rows(rows, vecs)
        if labels is not None:
            by_class: dict[int, list[int]] = defaultdict(list)
            for img_id, cid in zip(ids, labels):
                if cid is not None:
                    by_class[cid].append(img_id)
            for cid, group in by_class.items():
                self.project.set_labels(group, cid)
                self.labels[self.rows_of(group)] = cid
            if by_class:
                self.classes = self.project.classes()
                self.classesChanged.emit()
        if new_rows:
            self.rowsAppended.emit(n_old, n - 1)
        self.embeddingsChanged.emit()
        self.request_refit()
        return rows

    def set_embeddings(self, hashes: list[str], vecs: np.ndarray, backbone: str) -> None:
        """Embeddings computed in the background for images already in the project."""
        if backbone != self.backbone or not len(vecs):
            return  # a job for a backbone the user has since switched away from
        first, extra = self._rows_by_hash()
        rows, picked = [], []
        for k, h in enumerate(hashes):
            r = first.get(h)
            if r is not None:
                rows.append(r)
                picked.append(k)
                for r2 in extra.get(h, ()):
                    rows.append(r2)
                    picked.append(k)
        if rows:
            self.emb.set_rows(np.asarray(rows), np.asarray(vecs)[picked])
            self.embeddingsChanged.emit()
            self.request_refit()

    def _rows_by_hash(self) -> tuple[dict[str, int], dict[str, list[int]]]:
        """(hash -> first row, hash -> further rows with the same content), rebuilt only after
        rows change.  Built with dict(zip()) (C speed); duplicates are rare and found after."""
        n = len(self.hashes)
        if self._hash_index is None or self._hash_index[0] != n:
            first = dict(zip(reversed(self.hashes), range(n - 1, -1, -1)))  # earliest row wins
            extra: dict[str, list[int]] = defaultdict(list)
            if len(first) < n:
                for r, h in enumerate(self.hashes):
                    if first[h] != r:
                        extra[h].append(r)
            self._hash_index = (n, first, extra)
        return self._hash_index[1], self._hash_index[2]

    def remove_images(self, image_ids) -> list[RemovedImage]:
        removed = self.project.remove_images(image_ids)
        rows = self.rows_of([r.id for r in removed])
        if len(rows):
            # Keep their vectors so an undo brings them back instantly (even ones never cached).
            for r in rows:
                if self.emb.have[r]:
                    self._removed_vecs[(self.backbone, self.hashes[r])] = self.emb.data[r].copy()
            keep = np.ones(len(self.ids), bool)
            keep[rows] = False
            self.ids = self.ids[keep]
            self.labels = self.labels[keep]
            self.missing = self.missing[keep]
            self.files = [p for p, k in zip(self.files, keep) if k]
            self.hashes = [h for h, k in zip(self.hashes, keep) if k]
            self.emb.delete_rows(rows)
            self._hash_index = None
            self.pred = take_rows(self.pred, keep)
            self.unknown = self.unknown[keep]
            self._row_of = {int(i): k for k, i in enumerate(self.ids)}
            self.request_refit(rows_changed=True)
            self.imagesReset.emit()
        return removed

    def restore_images(self, removed: list[RemovedImage]) -> None:
        """Undo of remove_images: rows come back (embeddings from the project's cache)."""
        self.project.restore_images(removed)
        recs = self.project.images(ids=[r.id for r in removed])
        cache = {h: v for (b, h), v in self._removed_vecs.items() if b == self.backbone}
        cache.update(self.project.embedding_cache.get_many([r.hash for r in recs if r.hash not in cache],
                                                           self.backbone))
        for rec in recs:
            if rec.id in self._row_of:
                continue
            r = len(self.files)
            self._row_of[rec.id] = r
            self.files.append(rec.file)
            self.hashes.append(rec.hash)
            self.ids = np.append(self.ids, rec.id)
            self.labels = np.append(self.labels, UNLABELED if rec.class_id is None else rec.class_id)
            self.missing = np.append(self.missing, rec.missing)
            self.emb.resize(r + 1)
            if rec.hash in cache:
                self.emb.set_rows(np.array([r]), cache[rec.hash][None])
        self._grow_predictions(len(self.ids))
        self._reorder_by_id()
        self.request_refit(rows_changed=True)
        self.imagesReset.emit()

    def _reorder_by_id(self) -> None:
        """Keep rows in id (= import) order so an undone removal lands where it was."""
        order = np.argsort(self.ids, kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            return
        self.ids = self.ids[order]
        self.labels = self.labels[order]
        self.missing = self.missing[order]
        self.files = [self.files[i] for i in order]
        self.hashes = [self.hashes[i] for i in order]
        data, have = self.emb.data[order], self.emb.have[order]
        self.emb = EmbeddingMatrix(data.shape[1])
        self.emb.resize(len(order))
        if have.any():
            self.emb.set_rows(np.flatnonzero(have), data[have])
        self.pred = take_rows(self.pred, order)
        self.unknown = self.unknown[order]
        self._hash_index = None
        self._row_of = {int(i): k for k, i in enumerate(self.ids)}

    def relocate(self, folder: Path, progress=None) -> int:
        """Relink missing files under ``folder`` by content hash (run off the UI thread)."""
        return self.project.locate(folder, progress=progress)

    def refresh_missing(self) -> None:
        recs = self.project.images()
        for rec in recs:
            r = self._row_of.get(rec.id)
            if r is not None:
                self.files[r] = rec.file
                self.missing[r] = rec.missing
        self.imagesReset.emit()

