"""Undoable commands for every labeling action (Qt's QUndoStack pattern).

Each command does its work through :class:`ProjectSession` (which commits to
the project at once) and keeps exactly what the project returned for undoing
it: previous labels, the deleted class with its images, the removed image
records.  A command whose first ``redo`` fails marks itself obsolete, so the
stack drops it and the error (``command.error``) is shown to the user.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from core.errors import FewLensError
from core.project import LABELED_BY_PREDICTION, DeletedClass

from .session import ProjectSession


class _SessionCommand(QUndoCommand):
    def __init__(self, session: ProjectSession, text: str):
        super().__init__(text)
        self.session = session
        self.error: str | None = None
        self._done_once = False

    def redo(self) -> None:
        try:
            self._redo(first=not self._done_once)
            self._done_once = True
        except FewLensError as e:
            self.error = str(e)
            self.setObsolete(True)

    def undo(self) -> None:
        self._undo()

    def _redo(self, first: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _undo(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class LabelCommand(_SessionCommand):
    """Label (or, with ``class_id=None``, unlabel) a set of images."""

    def __init__(self, session: ProjectSession, image_ids: list[int], class_id: int | None):
        c = session.class_by_id(class_id) if class_id is not None else None
        what = _plural(len(image_ids), "image")
        super().__init__(session, f"Label {what} as {c.name}" if c else f"Remove label from {what}")
        self.image_ids = list(image_ids)
        self.class_id = class_id
        self.previous: dict[int, int | None] = {}

    def _redo(self, first: bool) -> None:
        self.previous = self.session.set_labels(self.image_ids, self.class_id)

    def _undo(self) -> None:
        self.session.apply_labels(self.previous)


class AcceptPredictionsCommand(_SessionCommand):
    """Turn predictions into labels ({image id: predicted class id}, fixed at creation)."""

    def __init__(self, session: ProjectSession, predictions: dict[int, int]):
        super().__init__(session, f"Accept {_plural(len(predictions), 'prediction')}")
        self.predictions = dict(predictions)
        self.previous: dict[int, int | None] = {}

    def _redo(self, first: bool) -> None:
        self.previous = self.session.apply_labels(self.predictions, labeled_by=LABELED_BY_PREDICTION)

    def _undo(self) -> None:
        self.session.apply_labels(self.previous)


class AddClassCommand(_SessionCommand):
    def __init__(self, session: ProjectSession, name: str, color: str | None = None):
        super().__init__(session, f"Add class {name}")
        self.name = name
        self.color = color
        self.class_id: int | None = None
        self._deleted: DeletedClass | None = None

    def _redo(self, first: bool) -> None:
        if first:
            self.class_id = self.session.add_class(self.name, self.color)
        else:  # same id, color and position as the first time
            self.session.restore_classes([self._deleted])

    def _undo(self) -> None:
        self._deleted = self.session.delete_class(self.class_id)


class RenameClassCommand(_SessionCommand):
    def __init__(self, session: ProjectSession, class_id: int, name: str):
        old = session.class_by_id(class_id)
        super().__init__(session, f"Rename {old.name if old else 'class'} to {name}")
        self.class_id = class_id
        self.name = name
        self.old_name: str | None = None

    def _redo(self, first: bool) -> None:
        self.old_name = self.session.rename_class(self.class_id, self.name)

    def _undo(self) -> None:
        self.session.rename_class(self.class_id, self.old_name)


class ClassColorCommand(_SessionCommand):
    def __init__(self, session: ProjectSession, class_id: int, color: str):
        c = session.class_by_id(class_id)
        super().__init__(session, f"Change color of {c.name if c else 'class'}")
        self.class_id = class_id
        self.color = color
        self.old_color: str | None = None

    def _redo(self, first: bool) -> None:
        self.old_color = self.session.set_class_color(self.class_id, self.color)

    def _undo(self) -> None:
        self.session.set_class_color(self.class_id, self.old_color)


class DeleteClassCommand(_SessionCommand):
    def __init__(self, session: ProjectSession, class_id: int):
        c = session.class_by_id(class_id)
        super().__init__(session, f"Delete class {c.name if c else ''}".strip())
        self.class_id = class_id
        self.deleted: DeletedClass | None = None

    def _redo(self, first: bool) -> None:
        self.deleted = self.session.delete_class(self.class_id)

    def _undo(self) -> None:
        self.session.restore_classes([self.deleted])


class MergeClassesCommand(_SessionCommand):
    def __init__(self, session: ProjectSession, src_id: int, dst_id: int):
        src, dst = session.class_by_id(src_id), session.class_by_id(dst_id)
        super().__init__(session, f"Merge {src.name if src else '?'} into {dst.name if dst else '?'}")
        self.src_id = src_id
        self.dst_id = dst_id
        self.deleted: list[DeletedClass] = []

    def _redo(self, first: bool) -> None:
        self.deleted = self.session.merge_classes([self.src_id], self.dst_id)

    def _undo(self) -> None:
        self.session.restore_classes(self.deleted)


class RemoveImagesCommand(_SessionCommand):
    """Remove images from the project (never from disk)."""

    def __init__(self, session: ProjectSession, image_ids: list[int]):
        super().__init__(session, f"Remove {_plural(len(image_ids), 'image')} from the project")
        self.image_ids = list(image_ids)
        self.removed = []

    def _redo(self, first: bool) -> None:
        self.removed = self.session.remove_images(self.image_ids)

    def _undo(self) -> None:
        self.session.restore_images(self.removed)
