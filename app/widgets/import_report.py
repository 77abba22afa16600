"""The dismissable report of files an import skipped, each named with its reason.

Shown inline above the gallery (not a dialog) so it never steals focus from
labeling; "Dismiss" hides it, "Copy list" puts the full paths on the clipboard.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from core.errors import ImageError


class ImportReport(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("reportBanner")
        self.errors: list[ImageError] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 10, 12, 10)
        lay.setSpacing(6)
        top = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("reportTitle")
        self.sub = QLabel()
        self.sub.setProperty("role", "hint")
        copy = QPushButton("Copy list")
        copy.clicked.connect(self.copy_to_clipboard)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.close)
        top.addWidget(self.title)
        top.addWidget(self.sub, 1)
        top.addWidget(copy)
        top.addWidget(dismiss)
        self.list = QListWidget()
        self.list.setObjectName("reportList")
        lay.addLayout(top)
        lay.addWidget(self.list)
        self.hide()

    def show_errors(self, errors: list[ImageError], imported: int, title: str | None = None,
                    sub: str | None = None) -> None:
        """Name every skipped file; ``title``/``sub`` replace the import wording (other tasks)."""
        self.errors = list(errors)
        n = len(self.errors)
        self.title.setText(title or f"⚠  {n} file{'s' if n != 1 else ''} could not be imported")
        self.sub.setText(sub or f"— {imported:,} image{'s were' if imported != 1 else ' was'} imported; "
                                "these were skipped:")
        self.list.clear()
        for e in self.errors:
            path = getattr(e, "path", "")
            item = QListWidgetItem(f"{_name(path)} — {getattr(e, 'reason', str(e))}")
            item.setToolTip(str(path))
            self.list.addItem(item)
        rows = min(n, 5)
        self.list.setFixedHeight(rows * (self.list.sizeHintForRow(0) + 2) + 6 if n else 0)
        self.show()

    def show_failure(self, title: str, message: str) -> None:
        """A task failed as a whole (e.g. the model could not be loaded): say so until dismissed."""
        self.errors = []
        self.title.setText(f"⚠  {title}")
        self.sub.setText("")
        self.list.clear()
        self.list.addItem(message)
        self.list.setFixedHeight(self.list.sizeHintForRow(0) + 8)
        self.show()

    def file_names(self) -> list[str]:
        return [_name(getattr(e, "path", "")) for e in self.errors]

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(str(e) for e in self.errors))


def _name(path) -> str:
    return Path(str(path)).name or str(path)
