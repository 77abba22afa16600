"""The thumbnail grid: a virtualized QListView over a filtered list of session rows.

``GalleryModel`` never copies per-image objects: it holds one NumPy array of
session rows for the current filter and answers ``data()`` from the session's
arrays, so 100,000 images cost 800 KB here and filtering is vectorised.
Thumbnails come from the :class:`ThumbnailLoader`; nothing in ``data()`` or
the delegate touches the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import (QAbstractListModel, QEvent, QItemSelection, QItemSelectionModel, QModelIndex, QRect, QSize,
                            Qt, QTimer, Signal)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter
from PySide6.QtWidgets import QAbstractItemView, QListView

from core.live_model import UNLABELED

from ..session import ImageRow, ProjectSession

ImageRowRole = Qt.ItemDataRole.UserRole + 1  # -> ImageRow
ImageIdRole = Qt.ItemDataRole.UserRole + 2  # -> int
_NAV_KEYS = frozenset({Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Home,
                       Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown})


@dataclass(frozen=True)
class GalleryFilter:
    kind: str = "all"  # all | labeled | unlabeled | review | unknown | class | ids
    class_id: int | None = None
    #: kind "ids": exactly these images, in this order (a confusion cell, map selection, suggestions)
    ids: tuple = ()
    title: str = ""


class GalleryModel(QAbstractListModel):
    rowsRefiltered = Signal()
    contentChanged = Signal()  # what tiles show changed, not which rows there are

    def __init__(self, session: ProjectSession | None = None, parent=None):
        super().__init__(parent)
        self.session: ProjectSession | None = None
        self.filter = GalleryFilter()
        self.rows = np.zeros(0, np.int64)
        self._pos: np.ndarray | None = None
        self._pending_append: list[int] | None = None
        self._append_timer = QTimer(self, singleShot=True, interval=300)
        self._append_timer.timeout.connect(self._flush_appended)
        if session is not None:
            self.set_session(session)

    def set_session(self, session: ProjectSession | None) -> None:
        self.beginResetModel()
        if self.session is not None:
            for sig, slot in self._connections():
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self.session = session
        self.filter = GalleryFilter()
        self._pending_append = None
        if session is not None:
            for sig, slot in self._connections():
                sig.connect(slot)
        self.rows = self.compute_rows()
        self._pos = None
        self.endResetModel()
        self.rowsRefiltered.emit()

    def _connections(self):
        s = self.session
        return [
            (s.imagesReset, self.refilter),
            (s.rowsAppended, self._on_rows_appended),
            (s.labelsChanged, self._on_labels),
            (s.predictionsChanged, self._on_predictions),
            (s.embeddingsChanged, self._repaint_all),
            (s.classesChanged, self._on_classes),
        ]

    # ------------------------------------------------------------------ filtering
    def set_filter(self, f: GalleryFilter) -> None:
        self.filter = f
        self.refilter()

    def compute_rows(self) -> np.ndarray:
        s = self.session
        if s is None or len(s) == 0:
            return np.zeros(0, np.int64)
        labels, top, conf = s.labels, s.pred.top, s.pred.confidence
        kind = self.filter.kind
        if kind == "all":
            return np.arange(len(s), dtype=np.int64)
        if kind == "labeled":
            return np.flatnonzero(labels != UNLABELED)
        if kind == "unlabeled":
            return np.flatnonzero(labels == UNLABELED)
        if kind == "review":
            # unlabeled images the model is least sure about first: labeling those teaches it most
            rows = np.flatnonzero((labels == UNLABELED) & (top != UNLABELED))
            return rows[np.argsort(conf[rows], kind="stable")]
        if kind == "unknown":
            rows = np.flatnonzero((labels == UNLABELED) & (top != UNLABELED) & s.unknown)
            return rows[np.argsort(conf[rows], kind="stable")]
        if kind == "class":
            cid = self.filter.class_id
            labeled = np.flatnonzero(labels == cid)
            pred = np.flatnonzero((labels == UNLABELED) & (top == cid) & ~s.unknown)
            pred = pred[np.argsort(-conf[pred], kind="stable")]
            return np.concatenate([labeled, pred])
        if kind == "ids":
            return s.rows_of(self.filter.ids)
        raise ValueError(f"unknown filter {kind!r}")

    def refilter(self) -> None:
        self._pending_append = None
        self._append_timer.stop()
        self.beginResetModel()
        self.rows = self.compute_rows()
        self._pos = None
        self.endResetModel()
        self.rowsRefiltered.emit()

    def _on_rows_appended(self, first: int, last: int) -> None:
        """Import chunks append rows.  Inserting makes QListView lay out every tile again
        (O(N)), so appends are batched: at most a few inserts per second on big imports."""
        if self._pending_append is None:
            self._pending_append = [first, last]
        else:
            self._pending_append[1] = last
        if len(self.rows) < 200:
            self._flush_appended()  # small project: show the first tiles at once
        elif not self._append_timer.isActive():
            # a relayout walks every row (~1 us of Python each): space them out on big projects
            self._append_timer.setInterval(int(min(2000, max(300, len(self.rows) / 50))))
            self._append_timer.start()

    def _flush_appended(self) -> None:
        self._append_timer.stop()
        if self._pending_append is None or self.session is None:
            self._pending_append = None
            return
        first, last = self._pending_append
        self._pending_append = None
        s = self.session
        last = min(last, len(s) - 1)
        kind = self.filter.kind
        if kind not in ("all", "labeled", "unlabeled"):
            self.refilter()  # sorted filters: positions depend on predictions
            return
        new = np.arange(first, last + 1, dtype=np.int64)
        if kind == "labeled":
            new = new[s.labels[new] != UNLABELED]
        elif kind == "unlabeled":
            new = new[s.labels[new] == UNLABELED]
        if len(new):
            n = len(self.rows)
            self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
            self.rows = np.concatenate([self.rows, new])
            self._pos = None
            self.endInsertRows()
        self.rowsRefiltered.emit()

    def _on_labels(self, _rows) -> None:
        if self.filter.kind in ("all",):
            self._repaint_all()
        else:
            self.refilter()

    def _on_predictions(self) -> None:
        if self.filter.kind in ("review", "class"):
            new = self.compute_rows()
            if not np.array_equal(new, self.rows):
                self.refilter()
                return
        self._repaint_all()

    def _on_classes(self) -> None:
        s = self.session
        if self.filter.kind == "class" and s is not None and s.class_by_id(self.filter.class_id) is None:
            self.filter = GalleryFilter()  # the class shown was deleted
            self.refilter()
        else:
            self._repaint_all()

    def _repaint_all(self) -> None:
        # Labels/predictions changed in place.  The view reads everything at paint time, so a
        # repaint is enough; dataChanged over all rows makes QListView walk every item (O(N)).
        self.contentChanged.emit()

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def session_row(self, index: QModelIndex) -> int:
        return int(self.rows[index.row()])

    def image_id(self, index: QModelIndex) -> int:
        return int(self.session.ids[self.rows[index.row()]])

    def index_of_image(self, image_id: int) -> QModelIndex:
        r = self.session.row_of(image_id) if self.session is not None else None
        if r is None:
            return QModelIndex()
        if self._pos is None or len(self._pos) != len(self.session):
            # session row -> model row, built once per filter change
            self._pos = np.full(len(self.session), -1, np.int64)
            self._pos[self.rows] = np.arange(len(self.rows))
        pos = int(self._pos[r]) if r < len(self._pos) else -1
        return self.index(pos) if pos >= 0 else QModelIndex()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.session is None or index.row() >= len(self.rows):
            return None
        row = int(self.rows[index.row()])
        s = self.session
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(s.files[row])
        if role == ImageIdRole:
            return int(s.ids[row])
        if role == ImageRowRole:
            return s.image_row(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s.image_row(row))
        return None

    def _tooltip(self, r: ImageRow) -> str:
        s = self.session
        lines = [str(r.path)]
        if r.missing:
            lines.append("File is missing: use File → Locate missing files…")
        if r.label != UNLABELED:
            c = s.class_by_id(r.label)
            lines.append(f"Labeled: {c.name if c else '?'}")
        elif r.predicted != UNLABELED:
            c = s.class_by_id(r.predicted)
            name = c.name if c else "?"
            lines.append(f"Predicted: {name} ({r.confidence:.0%})" + (" — below the unknown threshold" if r.unknown else ""))
        elif not r.embedded and not r.missing:
            lines.append("Waiting for its embedding…")
        return "\n".join(lines)


class GalleryView(QListView):
    """Grid of tiles.  Keys: 1-9 label the selection, 0 / Backspace unlabel,
    Enter accepts predictions, Delete removes from the project."""

    assignRequested = Signal(int)  # class position, 0-based
    unlabelRequested = Signal()
    acceptRequested = Signal()
    removeRequested = Signal()
    # The image the detail panel shows and how many are selected.  Always one of the selected
    # images (the current one when it is selected), or -1 when nothing is: what a key labels is
    # what the panel shows (issue 10).
    focusChanged = Signal(int, int)
    zoomRequested = Signal(int)  # +1 / -1 (Ctrl + mouse wheel)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setWordWrap(False)
        self.setSpacing(0)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)  # drops go to the main window, wherever they land
        self.empty_title = "Drop a folder of images here"
        self.empty_hint = "or use File → Add folder…   ·   subfolder names can become your classes"

    def setModel(self, model) -> None:  # noqa: N802 (Qt naming)
        super().setModel(model)
        model.contentChanged.connect(self.viewport().update)
        self._focus: tuple[int, int] | None = None
        self.selectionModel().currentChanged.connect(self._emit_focus)
        self.selectionModel().selectionChanged.connect(self._emit_focus)
        model.modelAboutToBeReset.connect(self._remember_selection)
        model.modelReset.connect(self._restore_selection)

    def set_tile_size(self, size: QSize) -> None:
        self.setGridSize(size)
        self.setIconSize(size)

    # ------------------------------------------------------------------ selection helpers
    def selected_ids(self) -> list[int]:
        m = self.model()
        return [m.image_id(i) for i in sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())]

    def select_ids(self, ids, current: int | None = None) -> None:
        m = self.model()
        sel = QItemSelection()
        for img_id in ids:
            idx = m.index_of_image(img_id)
            if idx.isValid():
                sel.select(idx, idx)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.selectionModel().select(sel, flags)
        if current is not None:
            idx = m.index_of_image(current)
            if idx.isValid():
                self.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.scrollTo(idx)

    def _remember_selection(self) -> None:
        m = self.model()
        if m.session is None or not len(m.rows):
            self._kept = ([], None, -1)
            return
        self._kept = (self.selected_ids(), m.image_id(self.currentIndex()) if self.currentIndex().isValid() else None,
                      self.currentIndex().row())
        self._kept_session = m.session

    def _restore_selection(self) -> None:
        ids, current, pos = getattr(self, "_kept", ([], None, -1))
        m = self.model()
        if getattr(self, "_kept_session", None) is not m.session:  # ids of another project mean nothing here
            ids, current, pos = [], None, -1
        still = [i for i in ids if m.index_of_image(i).isValid()]
        if still:
            self.select_ids(still, current if current in still else still[0])
        elif pos >= 0 and m.rowCount() and ids:
            # The selection left this filter (e.g. just labeled in "Unlabeled"): move on to the
            # tile now in its place, so labeling a stream of images needs no mouse.  Lists sorted
            # by confidence re-sort after every label: there the next one is the top one.
            self.select_row(0 if m.filter.kind in ("review", "unknown") else min(pos, m.rowCount() - 1))
        else:
            # Nothing selected: no tile may look current either (a focus frame reads as "selected").
            self.selectionModel().clearCurrentIndex()
        self._emit_focus()

    def select_row(self, row: int) -> None:
        """Make ``row`` the one selected and current tile (and scroll to it)."""
        idx = self.model().index(row)
        if idx.isValid():
            self.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.scrollTo(idx)

    def focus_image(self) -> int:
        """The image the detail panel shows: the current tile if selected, else the first
        selected one, else -1."""
        sm = self.selectionModel()
        m = self.model()
        cur = self.currentIndex()
        if cur.isValid() and sm.isSelected(cur):
            return m.image_id(cur)
        rows = sorted(i.row() for i in sm.selectedIndexes())
        return m.image_id(m.index(rows[0])) if rows else -1

    def refresh_focus(self) -> None:
        """Tell the panel again what is shown (after it was reset from elsewhere)."""
        self._focus = None
        self._emit_focus()

    def _emit_focus(self, *_args) -> None:
        if self.model() is None or self.model().session is None:
            focus = (-1, 0)
        else:
            focus = (self.focus_image(), len(self.selectionModel().selectedIndexes()))
        if focus != self._focus:
            self._focus = focus
            self.focusChanged.emit(*focus)

    def selectionCommand(self, index, event=None):  # noqa: N802 (Qt override)
        # Qt's Ctrl+arrows / Ctrl+Home move the current tile without selecting it, so the panel
        # would show one image while a number key labels another.  Navigation always selects.
        if isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress and event.key() in _NAV_KEYS:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                return super().selectionCommand(index, event)
            return QItemSelectionModel.SelectionFlag.ClearAndSelect
        return super().selectionCommand(index, event)

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        key = e.key()
        mods = e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods == Qt.KeyboardModifier.NoModifier:
            if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
                self.assignRequested.emit(key - Qt.Key.Key_1)
                return
            if key in (Qt.Key.Key_0, Qt.Key.Key_Backspace):
                self.unlabelRequested.emit()
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.acceptRequested.emit()
                return
            if key == Qt.Key.Key_Delete:
                self.removeRequested.emit()
                return
        super().keyPressEvent(e)

    def wheelEvent(self, e) -> None:  # noqa: N802
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            dy = e.angleDelta().y()
            if dy:
                self.zoomRequested.emit(1 if dy > 0 else -1)
            e.accept()
            return
        super().wheelEvent(e)

    # ------------------------------------------------------------------ empty state
    def paintEvent(self, e) -> None:  # noqa: N802
        super().paintEvent(e)
        if self.model() is not None and self.model().rowCount() == 0:
            p = QPainter(self.viewport())
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            r = self.viewport().rect()
            box = QRect(0, 0, min(520, r.width() - 40), 220)
            box.moveCenter(r.center())
            pen = p.pen()
            pen.setColor(QColor("#9aa3af"))
            pen.setStyle(Qt.PenStyle.DashLine)
            pen.setWidth(2)
            p.setPen(pen)
            p.drawRoundedRect(box, 14, 14)
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.5)
            f.setBold(True)
            p.setFont(f)
            p.setPen(QColor("#374151"))
            p.drawText(box.adjusted(10, 50, -10, -110), Qt.AlignmentFlag.AlignCenter, self.empty_title)
            p.setFont(self.font())
            p.setPen(QColor("#6b7280"))
            p.drawText(box.adjusted(20, 110, -20, -40), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.empty_hint)
            p.end()
