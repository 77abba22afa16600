"""The classes panel: one row per class with its key (1-9), color, name and counts.

It only displays and asks; every change is emitted as a request that the main
window turns into an undoable command.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QLabel, QListWidget, QListWidgetItem, QMenu, QPushButton,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout)

from ..session import ProjectSession
from .theme import MUTED, TEXT, readable_on

ClassIdRole = Qt.ItemDataRole.UserRole + 1
CountsRole = Qt.ItemDataRole.UserRole + 2  # (labeled, predicted)
ColorRole = Qt.ItemDataRole.UserRole + 3
KeyRole = Qt.ItemDataRole.UserRole + 4  # "1".."9" or ""

ROW_H = 48


class _ClassDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(option.rect.width(), ROW_H)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        # background (hover / selected) from the style sheet
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, p, opt.widget)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(option.rect).adjusted(8, 0, -8, 0)
        color = QColor(index.data(ColorRole) or "#999999")
        key = index.data(KeyRole) or ""
        # key badge in the class color: the number to press
        badge = QRectF(r.x(), r.center().y() - 13, 26, 26)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawRoundedRect(badge, 7, 7)
        f = QFont(option.font)
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor(readable_on(color.name())))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, key)
        # name and counts
        text_x = badge.right() + 10
        name_rect = QRectF(text_x, r.y() + 6, r.right() - text_x, 20)
        fm = QFontMetrics(f)
        p.setPen(QColor(TEXT))
        p.drawText(name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight,
                                 int(name_rect.width())))
        labeled, predicted = index.data(CountsRole) or (0, 0)
        sub = f"{labeled} labeled" + (f" · {predicted} predicted" if predicted else "")
        p.setFont(option.font)
        p.setPen(QColor(MUTED))
        p.drawText(QRectF(text_x, r.y() + 25, r.right() - text_x, 18),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, sub)
        p.restore()


class ClassesPanel(QFrame):
    addRequested = Signal()
    renameRequested = Signal(int, str)  # class id, new name
    colorRequested = Signal(int)
    mergeRequested = Signal(int, int)  # source id, destination id
    deleteRequested = Signal(int)
    classActivated = Signal(int)  # filter the gallery to this class

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sidePanel")
        self.setProperty("side", "left")
        self.session: ProjectSession | None = None
        self._updating = False
        self.active_class: int | None = None  # the class the gallery is filtered to, highlighted

        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 16, 14, 14)
        lay.setSpacing(8)
        title = QLabel("Classes")
        title.setProperty("role", "heading")
        self.hint = QLabel("Select images, then press a class's number to label them.")
        self.hint.setProperty("role", "hint")
        self.hint.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("classList")
        self.list.setItemDelegate(_ClassDelegate(self.list))
        self.list.setEditTriggers(QListWidget.EditTrigger.EditKeyPressed | QListWidget.EditTrigger.DoubleClicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemChanged.connect(self._item_changed)
        self.list.itemClicked.connect(lambda it: self.classActivated.emit(it.data(ClassIdRole)))
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.add_button = QPushButton("+  Add class")
        self.add_button.setProperty("role", "primary")
        self.add_button.setToolTip("Add a class (you can rename it right away)")
        self.add_button.clicked.connect(lambda: self.addRequested.emit())
        self.empty = QLabel("No classes yet.\nAdd one, or drop a folder whose subfolders are named by class.")
        self.empty.setProperty("role", "hint")
        self.empty.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(self.hint)
        lay.addSpacing(4)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.empty)
        lay.addWidget(self.add_button)

    # ------------------------------------------------------------------ data
    def set_session(self, session: ProjectSession | None) -> None:
        if self.session is not None:
            for sig in (self.session.classesChanged, self.session.predictionsChanged):
                try:
                    sig.disconnect(self.refresh)
                except (RuntimeError, TypeError):
                    pass
        self.session = session
        if session is not None:
            session.classesChanged.connect(self.refresh)
            session.predictionsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        s = self.session
        classes = s.classes if s is not None else []
        counts = s.class_counts() if s is not None else {}
        self._updating = True
        try:
            if self.list.count() != len(classes):
                self.list.clear()
                for _ in classes:
                    it = QListWidgetItem()
                    it.setFlags(it.flags() | Qt.ItemFlag.ItemIsEditable)
                    self.list.addItem(it)
            editing = self.list.state() == QAbstractItemView.State.EditingState
            for k, c in enumerate(classes):
                it = self.list.item(k)
                if editing and it is self.list.currentItem():
                    continue  # setting its data would reset what the user is typing
                values = {
                    Qt.ItemDataRole.DisplayRole: c.name,
                    ClassIdRole: c.id,
                    ColorRole: c.color,
                    KeyRole: str(k + 1) if k < 9 else "",
                    CountsRole: counts.get(c.id, (0, 0)),
                    Qt.ItemDataRole.ToolTipRole: (f"{c.name}: press {k + 1} to label the selected images"
                                                  if k < 9 else c.name),
                }
                for role, value in values.items():
                    if it.data(role) != value:  # only real changes: each setData repaints
                        it.setData(role, value)
                if it.isSelected() != (c.id == self.active_class):
                    it.setSelected(c.id == self.active_class)
        finally:
            self._updating = False
        self.empty.setVisible(not classes)
        self.list.setVisible(bool(classes))

    def set_active_class(self, class_id: int | None) -> None:
        """Highlight the class the gallery shows (None: no class filter)."""
        self.active_class = class_id
        self._updating = True
        try:
            for k in range(self.list.count()):
                it = self.list.item(k)
                it.setSelected(it.data(ClassIdRole) == class_id)
        finally:
            self._updating = False

    def item_for(self, class_id: int) -> QListWidgetItem | None:
        for k in range(self.list.count()):
            if self.list.item(k).data(ClassIdRole) == class_id:
                return self.list.item(k)
        return None

    def start_rename(self, class_id: int) -> None:
        it = self.item_for(class_id)
        if it is not None:
            self.list.setCurrentItem(it)
            self.list.editItem(it)

    # ------------------------------------------------------------------ requests
    def _item_changed(self, it: QListWidgetItem) -> None:
        if self._updating:
            return
        cid = it.data(ClassIdRole)
        name = (it.data(Qt.ItemDataRole.DisplayRole) or "").strip()
        c = self.session.class_by_id(cid) if self.session is not None else None
        if c is not None and name and name != c.name:
            self.renameRequested.emit(cid, name)
        else:
            self.refresh()  # empty or unchanged name: put the old one back

    def _menu(self, pos) -> None:
        it = self.list.itemAt(pos)
        if it is None or self.session is None:
            return
        cid = it.data(ClassIdRole)
        m = QMenu(self)
        m.addAction("Rename", lambda: self.list.editItem(it))
        m.addAction("Change color…", lambda: self.colorRequested.emit(cid))
        others = [c for c in self.session.classes if c.id != cid]
        merge = m.addMenu("Merge into")
        merge.setEnabled(bool(others))
        for c in others:
            act = QAction(c.name, merge)
            act.triggered.connect(lambda _=False, dst=c.id: self.mergeRequested.emit(cid, dst))
            merge.addAction(act)
        m.addSeparator()
        m.addAction("Delete…", lambda: self.deleteRequested.emit(cid))
        m.exec(self.list.viewport().mapToGlobal(pos))
