"""One error family for everything the user can get wrong.

Every message names the file involved, so a GUI or CLI can show it as-is.
"""

from __future__ import annotations

import os


class FewLensError(Exception):
    """Base class: a problem the user can act on (shown as one line)."""


class ImageError(FewLensError):
    """An image could not be read or decoded."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelFileError(FewLensError):
    """A weights / checkpoint / model file is missing, corrupt or not what it claims."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(FewLensError):
    """A project file cannot be opened or written."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Cancelled(FewLensError):
    """A long task was cancelled by the user."""
