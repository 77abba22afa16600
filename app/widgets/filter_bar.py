"""Segmented filter buttons above the gallery: All / Unlabeled / Labeled / Needs review,
plus the class picked in the classes panel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QToolButton

from .gallery import GalleryFilter

_FILTERS = [
    ("all", "All", "Every image in the project"),
    ("unlabeled", "Unlabeled", "Images you have not labeled (with their predictions)"),
    ("labeled", "Labeled", "Images you labeled"),
    ("review", "Needs review", "Unlabeled images the model is least sure about, least sure first"),
    ("unknown", "Unknown", "Unlabeled images below the unknown threshold: maybe a class you have not made yet"),
]


class FilterBar(QFrame):
    filterChanged = Signal(object)  # GalleryFilter

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("filterBar")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 14, 4)
        lay.setSpacing(4)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}
        for kind, text, tip in _FILTERS:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, k=kind: self._clicked(GalleryFilter(k)))
            self.group.addButton(b)
            self.buttons[kind] = b
            lay.addWidget(b)
        self.class_button = QToolButton()
        self.class_button.setCheckable(True)
        self.class_button.setToolTip("Labeled and predicted images of this class (click a class on the left)")
        self.class_button.hide()
        self.group.addButton(self.class_button)
        lay.addWidget(self.class_button)
        lay.addStretch(1)
        self.count = QLabel()
        self.count.setProperty("role", "hint")
        lay.addWidget(self.count)
        self._class_filter: GalleryFilter | None = None
        self.class_button.clicked.connect(lambda: self._class_filter and self._clicked(self._class_filter))
        self.buttons["all"].setChecked(True)

    def _clicked(self, f: GalleryFilter) -> None:
        self.filterChanged.emit(f)

    def show_filter(self, f: GalleryFilter, class_name: str | None = None) -> None:
        """Reflect ``f`` in the buttons (without emitting)."""
        if f.kind in ("class", "ids"):
            self._class_filter = f
            self.class_button.setText(f.title if f.kind == "ids" else f"Class: {class_name or '?'}")
            self.class_button.show()
            self.class_button.setChecked(True)
        else:
            self.buttons[f.kind].setChecked(True)

    def reset(self) -> None:
        """A new project: back to All, and no class tab left over from the previous one."""
        self._class_filter = None
        self.class_button.hide()
        self.buttons["all"].setChecked(True)

    def set_unknown_count(self, n: int) -> None:
        self.buttons["unknown"].setText(f"Unknown ({n:,})" if n else "Unknown")

    def set_count(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown:,} of {total:,} images" if shown != total else f"{total:,} images")
