"""What the project store hands out: image and class records, and what undo needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

ANY: Any = object()  # sentinel: "no filter" for images(class_id=...)


class LabelChange(dict):
    """``{image_id: previous class_id}`` plus ``.labeled_by`` ``{image_id: previous provenance}``,
    so ``apply_labels(change)`` restores both."""

    labeled_by: dict[int, str | None]


class ImageRecord(NamedTuple):
    """One image of the project.  A named tuple: listing 100,000 of them must stay cheap."""

    id: int
    file: str  # absolute path, as a string
    hash: str
    class_id: int | None
    missing: bool

    @property
    def path(self) -> Path:
        """The absolute path (built on access; ``file`` is the same as a string)."""
        return Path(self.file)


@dataclass(frozen=True, slots=True)
class RemovedImage:
    """Everything ``restore_images`` needs to put a removed image back exactly (same id)."""

    id: int
    stored_path: str
    hash: str
    size: int | None
    class_id: int | None
    added_at: float
    labeled_by: str | None = None


@dataclass(frozen=True, slots=True)
class ClassInfo:
    id: int
    name: str
    color: str
    position: int
    count: int  # labeled images in this class


@dataclass(frozen=True, slots=True)
class DeletedClass:
    """A deleted class and the images that carried its label (``restore_class`` undoes)."""

    id: int
    name: str
    color: str
    position: int
    image_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ProjectCounts:
    images: int
    labeled: int
    unlabeled: int
    classes: int
