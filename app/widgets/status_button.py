"""A flat status-bar button whose text is elided, left-aligned, when the bar is crowded.

A QPushButton keeps its whole text as its minimum width and, squeezed anyway (the adaptation's
progress bar shares the status bar), clips the text at both ends; this one shrinks to
``MIN_WIDTH`` and ends its text with "…", the full text staying in the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QPushButton, QStyle, QStyleOptionButton, QStylePainter

MIN_WIDTH = 120
PAD = 8


class StatusButton(QPushButton):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFlat(True)
        self._tip = ""

    def set_status(self, text: str, detail: str = "") -> None:
        """``text`` in the bar; the tooltip says ``detail`` (if any) and the whole text."""
        self.setText(text)
        self.setToolTip("\n".join(x for x in (text, detail, self._tip) if x))
        self.updateGeometry()

    def set_help(self, tip: str) -> None:
        self._tip = tip
        self.setToolTip(tip)

    def sizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self.text()) + 2 * PAD, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(MIN_WIDTH, self.sizeHint().width()), super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """What the bar shows at the current width (elided)."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, max(self.width() - 2 * PAD, 0))

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QStylePainter(self)
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        opt.text = ""
        p.drawControl(QStyle.ControlElement.CE_PushButton, opt)
        p.drawText(self.rect().adjusted(PAD, 0, -PAD, 0), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                   self.shown_text())
