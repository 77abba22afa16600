"""Every file dialog of the app, built so that it never opens a file it lists.

Why: Qt's file dialog sniffs the content of files whose type it cannot tell from the name (the
project's ``.fewlens``, ``-wal`` and ``-shm`` among them), and closing that descriptor drops all of
this process's POSIX locks on the project file — SQLite's locks.  A native (GTK) dialog runs in
this process too and does the same for thumbnails.  So: Qt's own dialog, with an icon provider that
types files by name only.  (core.project_lock keeps other FewLens processes off the project even if
some other code path drops the locks; this keeps the locks themselves.)

Use these functions instead of ``QFileDialog.get*`` (tests/test_architecture.py enforces it).
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo
from PySide6.QtWidgets import QFileDialog, QFileIconProvider, QWidget


class NameOnlyIconProvider(QFileIconProvider):
    """Icons and type names from the file name alone (the default reads file content)."""

    def icon(self, what):  # noqa: D102 (Qt override)
        if isinstance(what, QFileInfo):
            kind = QFileIconProvider.IconType.Folder if what.isDir() else QFileIconProvider.IconType.File
            return super().icon(kind)
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:  # noqa: A003 (Qt override)
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


_provider: NameOnlyIconProvider | None = None


def make_dialog(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "") -> QFileDialog:
    """A non-native ``QFileDialog`` that never opens the files it lists."""
    global _provider
    if _provider is None:
        _provider = NameOnlyIconProvider()
    dlg = QFileDialog(parent, caption, directory, name_filter)
    dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dlg.setIconProvider(_provider)
    return dlg


def _run(dlg: QFileDialog) -> list[str]:
    try:
        return dlg.selectedFiles() if dlg.exec() == QFileDialog.DialogCode.Accepted else []
    finally:
        dlg.deleteLater()


def get_existing_directory(parent: QWidget | None, caption: str, directory: str = "") -> str:
    dlg = make_dialog(parent, caption, directory)
    dlg.setFileMode(QFileDialog.FileMode.Directory)
    dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
    files = _run(dlg)
    return files[0] if files else ""


def get_open_file_names(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "") -> list[str]:
    dlg = make_dialog(parent, caption, directory, name_filter)
    dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
    return _run(dlg)


def get_open_file_name(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "") -> str:
    dlg = make_dialog(parent, caption, directory, name_filter)
    dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
    files = _run(dlg)
    return files[0] if files else ""


def get_save_file_name(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "",
                       default_suffix: str = "") -> str:
    dlg = make_dialog(parent, caption, directory, name_filter)
    dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dlg.setFileMode(QFileDialog.FileMode.AnyFile)
    if default_suffix:
        dlg.setDefaultSuffix(default_suffix)
    files = _run(dlg)
    return files[0] if files else ""
