"""Paints one gallery tile: thumbnail, then a label chip, or the predicted class
with a confidence bar, or an "unknown" mark; missing files are greyed out.

Everything painted comes from memory (session arrays + thumbnail cache).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from core.live_model import UNLABELED

from ..session import ImageRow, ProjectSession
from .gallery import ImageRowRole
from .theme import ACCENT, BORDER, MUTED, SURFACE, TEXT, readable_on
from .thumbnails import ThumbnailLoader

MARGIN = 5
BAND = 42  # caption band under the thumbnail


def tile_size(thumb: int) -> QSize:
    return QSize(thumb + 2 * MARGIN + 8, thumb + BAND + 2 * MARGIN + 8)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, session_getter, thumbs: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self._session = session_getter  # callable -> ProjectSession | None (the session can change)
        self.thumbs = thumbs
        self._colors: dict[str, QColor] = {}
        self._fonts_key: str | None = None
        self._fonts: tuple = ()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return tile_size(self.thumbs.size)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        session: ProjectSession | None = self._session()
        info: ImageRow | None = index.data(ImageRowRole)
        if session is None or info is None:
            return
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        card = QRectF(option.rect.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN))

        # card
        p.setBrush(self._color("#eef4ff" if selected else SURFACE))
        p.setPen(QPen(self._color(ACCENT if selected else ("#c7cdd6" if hover else BORDER)), 2.5 if selected else 1))
        p.drawRoundedRect(card, 8, 8)

        # thumbnail area
        inner = card.adjusted(4, 4, -4, -(BAND))
        side = min(inner.width(), inner.height())
        tarea = QRectF(inner.x() + (inner.width() - side) / 2, inner.y(), side, side)
        self._paint_thumb(p, tarea, info)

        # caption band
        band = QRectF(card.x() + 8, card.bottom() - BAND + 4, card.width() - 16, BAND - 10)
        self._paint_caption(p, band, info, session)
        p.restore()

    # ------------------------------------------------------------------ parts
    def _color(self, hex_color: str) -> QColor:
        c = self._colors.get(hex_color)
        if c is None:
            c = self._colors[hex_color] = QColor(hex_color)
        return c

    def _fonts_for(self, base: QFont) -> tuple[QFont, QFont, QFont, QFontMetrics, QFontMetrics]:
        """(regular, bold, small bold, metrics, bold metrics), built once per base font:
        painting runs for every visible tile on every repaint."""
        key = base.key()
        if self._fonts_key != key:
            bold = QFont(base)
            bold.setBold(True)
            small = QFont(bold)
            small.setPointSizeF(base.pointSizeF() * 0.85)
            self._fonts = (QFont(base), bold, small, QFontMetrics(base), QFontMetrics(bold))
            self._fonts_key = key
        return self._fonts

    def _paint_thumb(self, p: QPainter, area: QRectF, info: ImageRow) -> None:
        p.save()
        p.fillRect(area, self._color("#f1f3f6"))
        img = None if info.missing else self.thumbs.get(info.id, info.path)
        if img is not None and not img.isNull():
            w, h = img.width(), img.height()
            scale = min(area.width() / w, area.height() / h)
            tw, th = w * scale, h * scale
            target = QRectF(area.x() + (area.width() - tw) / 2, area.y() + (area.height() - th) / 2, tw, th)
            p.drawImage(target, img)
        elif info.missing or (img is not None and img.isNull()):
            p.fillRect(area, QColor("#e5e7eb"))
            self._paint_warning(p, area, "missing" if info.missing else "can't read")
        p.restore()

    def _paint_warning(self, p: QPainter, area: QRectF, text: str) -> None:
        c = area.center()
        r = 16
        tri = QPainterPath()
        tri.moveTo(c.x(), c.y() - r - 8)
        tri.lineTo(c.x() + r, c.y() + r - 8)
        tri.lineTo(c.x() - r, c.y() + r - 8)
        tri.closeSubpath()
        p.fillPath(tri, QColor("#f59e0b"))
        p.setPen(QPen(QColor("white"), 2.4))
        p.drawLine(QPointF(c.x(), c.y() - 12), QPointF(c.x(), c.y() - 1))
        p.drawPoint(QPointF(c.x(), c.y() + 4))
        p.setPen(QColor(MUTED))
        f = QFont(p.font())
        f.setBold(True)
        p.setFont(f)
        p.drawText(QRectF(area.x(), c.y() + 14, area.width(), 20), Qt.AlignmentFlag.AlignCenter, text)

    def _paint_caption(self, p: QPainter, band: QRectF, info: ImageRow, session: ProjectSession) -> None:
        font, bold, small_bold, fm, bfm = self._fonts_for(p.font())
        if info.label != UNLABELED:
            c = session.class_by_id(info.label)
            if c is None:
                return
            # solid chip = a label the user gave
            text = bfm.elidedText(c.name, Qt.TextElideMode.ElideRight, int(band.width()) - 38)
            chip_w = min(band.width(), bfm.horizontalAdvance(text) + 38)
            chip = QRectF(band.x(), band.y() + 2, chip_w, 24)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._color(c.color))
            p.drawRoundedRect(chip, 12, 12)
            fg = self._color(readable_on(c.color))
            # check mark
            p.setPen(QPen(fg, 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            x0, y0 = chip.x() + 10, chip.center().y()
            p.drawPolyline([QPointF(x0, y0), QPointF(x0 + 3.5, y0 + 3.5), QPointF(x0 + 10, y0 - 4)])
            p.setFont(bold)
            p.drawText(chip.adjusted(26, 0, -10, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            return
        if info.predicted != UNLABELED:
            c = session.class_by_id(info.predicted)
            if c is None:
                return
            pct = f"{info.confidence:.0%}"
            pct_w = fm.horizontalAdvance("100%") + 2
            if band.width() - 22 - pct_w < fm.horizontalAdvance("Wwww…"):
                # the smallest tiles: the name matters more; the bar still shows confidence.  A long
                # name on a normal tile is elided instead, so the percentage stays (issue 10).
                pct, pct_w = "", 0
            top = QRectF(band.x(), band.y(), band.width(), 20)
            color = self._color(MUTED if info.unknown else c.color)
            p.setFont(font)
            if info.unknown:
                # hollow "?" badge: the model is not sure enough to name a class
                badge = QRectF(top.x(), top.center().y() - 8, 16, 16)
                p.setPen(QPen(self._color(MUTED), 1.5))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawEllipse(badge)
                p.setFont(small_bold)
                p.drawText(badge, Qt.AlignmentFlag.AlignCenter, "?")
                p.setFont(font)
                text = "unknown"
                p.setPen(self._color(MUTED))
            else:
                dot = QRectF(top.x() + 2, top.center().y() - 5, 10, 10)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(color)
                p.drawEllipse(dot)
                text = fm.elidedText(c.name, Qt.TextElideMode.ElideRight, int(top.width() - 22 - pct_w))
                p.setPen(self._color(TEXT))
            p.drawText(top.adjusted(20, 0, -pct_w, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            if pct:
                p.setPen(self._color(MUTED))
                p.drawText(top, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, pct)
            # confidence bar
            bar = QRectF(band.x(), band.y() + 24, band.width(), 5)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._color("#e5e7eb"))
            p.drawRoundedRect(bar, 2.5, 2.5)
            fill = QRectF(bar.x(), bar.y(), max(5.0, bar.width() * info.confidence), bar.height())
            p.setBrush(color)
            p.drawRoundedRect(fill, 2.5, 2.5)
            return
        # no prediction yet
        p.setPen(self._color(MUTED))
        if info.missing:
            text = info.path.name
        elif not info.embedded:
            text = "analysing…"
        elif session.pred.class_ids.size == 0:
            text = info.path.name  # nothing labeled yet: the file name says what the tile is
        else:
            text = "…"  # embedded after the last refit; the next one covers it
        p.setFont(font)
        p.drawText(QRectF(band.x(), band.y(), band.width(), 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(text, Qt.TextElideMode.ElideMiddle, int(band.width())))
