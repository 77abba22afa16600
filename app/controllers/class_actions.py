"""Class dialogs (add, rename, colour, merge, delete) and what the selection's actions do."""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QColorDialog, QMenu, QMessageBox

from core.live_model import UNLABELED

from .. import undo


class ClassActions:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    # ================================================================== labeling
    def _push(self, cmd: undo._SessionCommand) -> bool:
        self.w.undo_stack.push(cmd)
        if cmd.error:
            QMessageBox.warning(self.w, "FewLens", cmd.error)
            return False
        return True

    def selected_ids(self) -> list[int]:
        return self.w.gallery.selected_ids()

    def assign_selection(self, position: int) -> None:
        s = self.w.session
        ids = self.selected_ids()
        if s is None or not ids:
            return
        if position >= len(s.classes):
            self.w.statusBar().showMessage(
                f"There is no class {position + 1} yet: add one in the Classes panel (Ctrl+K).", 5000)
            return
        self._push(undo.LabelCommand(s, ids, s.classes[position].id))

    def unlabel_selection(self) -> None:
        s = self.w.session
        if s is None:
            return
        ids = [i for i in self.selected_ids() if s.labels[s.row_of(i)] != UNLABELED]
        if ids:
            self._push(undo.LabelCommand(s, ids, None))

    def accept_selection(self) -> None:
        s = self.w.session
        if s is None:
            return
        ids = [i for i in self.selected_ids() if s.labels[s.row_of(i)] == UNLABELED]
        preds = s.predicted_labels(ids)
        if preds:
            self._push(undo.AcceptPredictionsCommand(s, preds))
        elif ids:
            self.w.statusBar().showMessage("No confident prediction to accept for the selection.", 4000)

    def remove_selection(self) -> None:
        ids = self.selected_ids()
        if self.w.session is not None and ids and self._push(undo.RemoveImagesCommand(self.w.session, ids)):
            n = len(ids)
            self.w.statusBar().showMessage(
                f"Removed {n} image{'s' if n != 1 else ''} from the project (files stay on disk). "
                "Ctrl+Z brings them back.", 6000)

    def gallery_menu(self) -> QMenu | None:
        """The right-click menu for the selection: every labeling action, with its key."""
        s = self.w.session
        ids = self.selected_ids()
        if s is None or not ids:
            return None
        n = len(ids)
        m = QMenu(self.w)
        label = m.addMenu(f"Label {'image' if n == 1 else f'{n} images'} as")
        label.setEnabled(bool(s.classes))
        for k, c in enumerate(s.classes):
            act = label.addAction(f"{c.name}\t{k + 1}" if k < 9 else c.name)
            act.triggered.connect(lambda _=False, k=k: self.assign_selection(k))
        m.addAction("Accept prediction" + ("s" if n > 1 else "") + "\tEnter", self.accept_selection)
        m.addAction("Remove label\t0", self.unlabel_selection)
        m.addSeparator()
        m.addAction("Copy file path" + ("s" if n > 1 else ""), lambda: QGuiApplication.clipboard().setText(
            "\n".join(s.files[s.row_of(i)] for i in ids)))
        m.addAction("Remove from project\tDel", self.remove_selection)
        return m

    def _gallery_menu(self, pos) -> None:
        m = self.gallery_menu()
        if m is not None:
            m.exec(self.w.gallery.viewport().mapToGlobal(pos))

    # ================================================================== classes
    def _next_class_name(self) -> str:
        taken = {c.name.casefold() for c in self.w.session.classes}
        k = len(self.w.session.classes) + 1
        while f"class {k}" in taken:
            k += 1
        return f"Class {k}"

    def add_class(self, name: str, color: str | None = None) -> int | None:
        """Add a class (undoable); returns its id, or None when the name is invalid/taken."""
        s = self.w.session
        name = name.strip()
        if s is None or not name:
            return None
        if any(c.name.casefold() == name.casefold() for c in s.classes):
            QMessageBox.warning(self.w, "Add class", f"There is already a class named “{name}”.")
            return None
        cmd = undo.AddClassCommand(s, name, color)
        return cmd.class_id if self._push(cmd) else None

    def add_class_interactive(self) -> None:
        if self.w.session is None:
            return
        cid = self.add_class(self._next_class_name())
        if cid is not None:
            self.w.classes_panel.start_rename(cid)

    def rename_class(self, class_id: int, name: str) -> None:
        s = self.w.session
        name = name.strip()
        if any(c.name.casefold() == name.casefold() and c.id != class_id for c in s.classes):
            QMessageBox.warning(self.w, "Rename class", f"There is already a class named “{name}”.")
            self.w.classes_panel.refresh()
            return
        self._push(undo.RenameClassCommand(s, class_id, name))

    def choose_class_color(self, class_id: int) -> None:
        c = self.w.session.class_by_id(class_id)
        color = QColorDialog.getColor(QColor(c.color), self.w, f"Color of {c.name}")
        if color.isValid():
            self._push(undo.ClassColorCommand(self.w.session, class_id, color.name()))

    def merge_classes(self, src_id: int, dst_id: int) -> None:
        self._push(undo.MergeClassesCommand(self.w.session, src_id, dst_id))

    def confirm_delete_class(self, name: str, count: int) -> bool:
        text = (f"Delete the class “{name}”?\n\nIts {count} labeled image{'s' if count != 1 else ''} "
                "will become unlabeled (they stay in the project). You can undo this.")
        return QMessageBox.question(self.w, "Delete class", text) == QMessageBox.StandardButton.Yes

    def delete_class(self, class_id: int) -> None:
        c = self.w.session.class_by_id(class_id)
        if c is not None and self.confirm_delete_class(c.name, c.count):
            self._push(undo.DeleteClassCommand(self.w.session, class_id))
