"""A flat status-bar button whose text is elided, left-aligned, when the bar is crowded.

A QPushButton keeps its whole text as its minimum width and, squeezed anyway (the adaptation's
progress bar shares the status bar), clips the text at both ends; this one shrinks to
``MIN_WIDTH`` and shows its text ending in "…" (re-elided on every resize), the full text
staying in :meth:`full_text` and the tooltip.  Plain QPushButton painting: no custom paint code.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QPushButton

MIN_WIDTH = 120
#: the theme's QPushButton padding (12 px a side) + border, plus a little air
CHROME = 32


class StatusButton(QPushButton):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFlat(True)
        self.setStyleSheet("text-align: left;")
        self._full = ""
        self._tip = ""

    def set_status(self, text: str, detail: str = "") -> None:
        """``text`` in the bar; the tooltip says ``detail`` (if any) and the whole text."""
        self._full = text
        self.setToolTip("\n".join(x for x in (text, detail, self._tip) if x))
        self._elide()
        self.updateGeometry()

    def set_help(self, tip: str) -> None:
        self._tip = tip
        self.setToolTip(tip)

    def full_text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What the bar shows at the current width."""
        return self.text()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width() - CHROME, 0))
        if shown != self.text():
            self.setText(shown)

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        self._elide()

    def sizeHint(self) -> QSize:  # noqa: N802
        # + 4: elidedText must find the whole text fits at exactly this width
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + CHROME + 4, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(MIN_WIDTH, self.sizeHint().width()), super().minimumSizeHint().height())
