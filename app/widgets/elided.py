"""Text that fits the width a crowded bar gives it: elided with "…", never clipped mid-letter.

A mixin for QLabel and QPushButton (anything with ``text``/``setText``): the widget asks for its
whole text (its size hint), accepts less (its minimum), re-elides on every resize, and keeps the
whole text in :meth:`full_text`.  Plain Qt painting: no custom paint code.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel


class ElidedText:
    #: width around the text that is not text (padding, border), taken off before eliding
    ELIDE_CHROME = 0
    #: added to the text's width in the size hint (+ 4: elidedText must find that the whole text fits)
    HINT_EXTRA = 4

    _full = ""

    def full_text(self) -> str:
        return self._full

    def _set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()
        self.updateGeometry()

    def _elide(self) -> None:
        # contentsRect: a style sheet's padding (the status bar's labels have 8 px a side) is not text
        width = max(self.contentsRect().width() - self.ELIDE_CHROME, 0)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        if shown != self.shown_text():
            self._show(shown)

    def shown_text(self) -> str:
        """What the widget shows at its current width."""
        return self.text()

    def _show(self, shown: str) -> None:
        self.setText(shown)

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        self._elide()

    def _min_width(self) -> int:  # pragma: no cover - each widget says how narrow it may go
        raise NotImplementedError

    def sizeHint(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._full) + self.HINT_EXTRA + m.left() + m.right()
        return QSize(min(width, self.maximumWidth()), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(self._min_width(), self.sizeHint().width()), super().minimumSizeHint().height())


class ElidedLabel(ElidedText, QLabel):
    """A status-bar QLabel that yields width to its neighbours: ``setText``/``text`` are the whole
    text (callers and tests see no difference), the label shows as much as fits, down to
    ``min_width`` pixels, and the whole text is in its tooltip while it is cut short."""

    def __init__(self, text: str = "", min_width: int = 80, parent=None):
        super().__init__(parent)
        self._min = min_width
        self._tip = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        self._set_full_text(text)

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return QLabel.text(self)

    def setToolTip(self, tip: str) -> None:  # noqa: N802
        self._tip = tip
        self._update_tip()

    def _show(self, shown: str) -> None:
        QLabel.setText(self, shown)
        self._update_tip()

    def _update_tip(self) -> None:
        cut = self.shown_text() != self._full
        QLabel.setToolTip(self, "\n".join(x for x in ((self._full if cut else ""), self._tip) if x))

    def _min_width(self) -> int:
        return self._min
