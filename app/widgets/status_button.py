"""A flat status-bar button whose text is elided, left-aligned, when the bar is crowded.

A QPushButton keeps its whole text as its minimum width and, squeezed anyway (the adaptation's
progress bar shares the status bar), clips the text at both ends; this one shrinks to
``MIN_WIDTH`` and shows its text ending in "…" (re-elided on every resize), the full text
staying in :meth:`full_text` and the tooltip.  Plain QPushButton painting: no custom paint code.
"""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QSizePolicy

from .elided import ElidedText

MIN_WIDTH = 100
#: the theme's QPushButton padding (12 px a side) + border, plus a little air
CHROME = 32


class StatusButton(ElidedText, QPushButton):
    ELIDE_CHROME = CHROME
    HINT_EXTRA = CHROME + 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFlat(True)
        # a push button's width policy is Minimum (never below its text); this one may shrink and elide
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("text-align: left;")
        self._tip = ""

    def set_status(self, text: str, detail: str = "") -> None:
        """``text`` in the bar; the tooltip says ``detail`` (if any) and the whole text."""
        self.setToolTip("\n".join(x for x in (text, detail, self._tip) if x))
        self._set_full_text(text)

    def set_help(self, tip: str) -> None:
        self._tip = tip
        self.setToolTip(tip)

    def _min_width(self) -> int:
        return MIN_WIDTH
