"""The Camera panel's live view: the newest frame, the classified region, the prediction overlay.

Painted on the UI thread only, from what the panel hands it (a frame array and a
:class:`Overlay`); it never talks to the capture threads.  The region (ROI) is a square in
frame coordinates: drag inside it to move it, drag a corner to resize it, double-click to
reset it to the centered square.  It stays square because the backbone sees a square crop
(core.preprocess center-crops), so a wide box would silently lose its sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.camera import Roi

HANDLE = 12  # px: how close to a corner a press resizes instead of moving
UNKNOWN_COLOR = "#9ca3af"


@dataclass
class Overlay:
    """What the overlay says (built by the panel from a Recognition and the session)."""

    rows: list[tuple[str, float, str]] = field(default_factory=list)  # (class, probability, color) best first
    unknown: bool = False
    fps: float | None = None
    latency_ms: float | None = None
    note: str = ""  # e.g. "Label a few images to see predictions", "Frozen", "Capturing 12"


class LiveView(QWidget):
    roiChanged = Signal(object)  # core.camera.Roi, after a drag

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None  # keeps the QImage's pixels alive
        self.roi: Roi | None = None
        self.overlay = Overlay()
        self.message = "No source — pick a camera, a video file or a stream URL above."
        self._drag: tuple[str, QPointF, Roi] | None = None  # (mode, press point, roi at press)

    # ------------------------------------------------------------------ inputs
    def set_frame(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self._image = self._array = None
        else:
            self._array = np.ascontiguousarray(rgb)
            h, w = self._array.shape[:2]
            self._image = QImage(self._array.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.update()

    def set_roi(self, roi: Roi | None) -> None:
        self.roi = roi
        self.update()

    def set_overlay(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self.update()

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return (self._image.width(), self._image.height()) if self._image is not None else None

    # ------------------------------------------------------------------ geometry
    def _frame_rect(self) -> QRectF:
        """Where the frame is drawn: fitted, centered, aspect kept."""
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def roi_rect(self) -> QRectF | None:
        if self.roi is None or self._image is None:
            return None
        fr, r = self._frame_rect(), self.roi.clamped()
        return QRectF(fr.x() + r.x * fr.width(), fr.y() + r.y * fr.height(), r.w * fr.width(), r.h * fr.height())

    # ------------------------------------------------------------------ ROI dragging
    def mousePressEvent(self, e) -> None:  # noqa: N802
        rect = self.roi_rect()
        if rect is None or e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        p = e.position()
        for name, corner in (("tl", rect.topLeft()), ("tr", rect.topRight()),
                             ("bl", rect.bottomLeft()), ("br", rect.bottomRight())):
            if abs(p.x() - corner.x()) <= HANDLE and abs(p.y() - corner.y()) <= HANDLE:
                self._drag = (name, p, self.roi)
                return
        if rect.contains(p):
            self._drag = ("move", p, self.roi)

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        if self._drag is None:
            rect = self.roi_rect()
            near = rect is not None and any(
                abs(e.position().x() - c.x()) <= HANDLE and abs(e.position().y() - c.y()) <= HANDLE
                for c in (rect.topLeft(), rect.topRight(), rect.bottomLeft(), rect.bottomRight()))
            inside = rect is not None and rect.contains(e.position())
            self.setCursor(Qt.CursorShape.SizeAllCursor if near else
                           Qt.CursorShape.OpenHandCursor if inside else Qt.CursorShape.ArrowCursor)
            return
        mode, start, r0 = self._drag
        fr = self._frame_rect()
        iw, ih = self.frame_size
        dx = (e.position().x() - start.x()) / fr.width()
        dy = (e.position().y() - start.y()) / fr.height()
        if mode == "move":
            self.roi = Roi(r0.x + dx, r0.y + dy, r0.w, r0.h).clamped()
        else:
            self.roi = _resize_square(r0, mode, dx, dy, iw, ih)
        self.update()

    def mouseReleaseEvent(self, e) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.roiChanged.emit(self.roi)

    def mouseDoubleClickEvent(self, e) -> None:  # noqa: N802
        if self.frame_size is not None:
            self.roi = Roi.centered_square(*self.frame_size)
            self.update()
            self.roiChanged.emit(self.roi)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#111827"))
        if self._image is None:
            p.setPen(QColor("#e5e7eb"))
            p.drawText(self.rect().adjusted(24, 24, -24, -24),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            p.end()
            return
        fr = self._frame_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(fr, self._image)
        rect = self.roi_rect()
        if rect is not None:
            shade = QPainterPath()
            shade.addRect(fr)
            hole = QPainterPath()
            hole.addRect(rect)
            p.fillPath(shade.subtracted(hole), QColor(0, 0, 0, 90))  # dim what is not classified
            p.setPen(QPen(QColor("#ffffff"), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
            p.setBrush(QColor("#ffffff"))
            for c in (rect.topLeft(), rect.topRight(), rect.bottomLeft(), rect.bottomRight()):
                p.drawRect(QRectF(c.x() - 4, c.y() - 4, 8, 8))
        self._paint_overlay(p, fr)
        if self.message:  # a fault over the last frame
            p.fillRect(fr, QColor(17, 24, 39, 170))
            p.setPen(QColor("#ffffff"))
            p.drawText(fr.adjusted(24, 24, -24, -24), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.message)
        p.end()

    def _paint_overlay(self, p: QPainter, fr: QRectF) -> None:
        o = self.overlay
        small = QFont(self.font())
        small.setPointSizeF(max(8.0, small.pointSizeF() * 0.95))
        big = QFont(self.font())
        big.setPointSizeF(small.pointSizeF() * 1.35)
        big.setBold(True)
        if o.fps is not None:
            text = f"{o.fps:.1f} fps · {o.latency_ms:.0f} ms" if o.latency_ms is not None else f"{o.fps:.1f} fps"
            p.setFont(small)
            w = p.fontMetrics().horizontalAdvance(text) + 16
            box = QRectF(fr.right() - w - 8, fr.top() + 8, w, 24)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 6, 6)
            p.setPen(QColor("#ffffff"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        if not o.rows and not o.note:
            return
        bw = min(300.0, fr.width() - 16)
        line = 22
        h = 12 + (30 if o.rows else 0) + line * len(o.rows) + (line if o.note else 0)
        box = QRectF(fr.left() + 8, fr.bottom() - h - 8, bw, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 8, 8)
        y = box.top() + 6
        if o.rows:
            name, prob, color = o.rows[0]
            title = f"Unknown  (best guess {name})" if o.unknown else name
            p.setFont(big)
            p.setPen(QColor(UNKNOWN_COLOR if o.unknown else "#ffffff"))
            p.drawText(QRectF(box.left() + 10, y, bw - 20, 28), Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, int(bw - 20)))
            y += 30
        p.setFont(small)
        label_w = 96.0
        for name, prob, color in o.rows:
            p.setPen(QColor("#e5e7eb"))
            p.drawText(QRectF(box.left() + 10, y, label_w, line), Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 6)))
            track = QRectF(box.left() + 10 + label_w, y + 6, bw - label_w - 66, line - 12)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 40))
            p.drawRoundedRect(track, 4, 4)
            fill = QRectF(track.left(), track.top(), max(2.0, track.width() * float(prob)), track.height())
            p.setBrush(QColor(UNKNOWN_COLOR if o.unknown else color))
            p.drawRoundedRect(fill, 4, 4)
            p.setPen(QColor("#ffffff"))
            p.drawText(QRectF(track.right() + 6, y, 44, line), Qt.AlignmentFlag.AlignVCenter
                       | Qt.AlignmentFlag.AlignRight, f"{prob:.0%}")
            y += line
        if o.note:
            p.setPen(QColor("#fde68a"))
            p.drawText(QRectF(box.left() + 10, y, bw - 20, line), Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(o.note, Qt.TextElideMode.ElideRight, int(bw - 20)))


def _resize_square(r0: Roi, corner: str, dx: float, dy: float, iw: int, ih: int) -> Roi:
    """Drag ``corner`` of a square ROI by (dx, dy) frame fractions, the opposite corner fixed."""
    # work in pixels: a square in pixels is not a square in fractions of a 4:3 frame
    x0, y0, x1, y1 = r0.x * iw, r0.y * ih, (r0.x + r0.w) * iw, (r0.y + r0.h) * ih
    px, py = dx * iw, dy * ih
    sx = -px if "l" in corner else px
    sy = -py if "t" in corner else py
    side = max(16.0, (x1 - x0) + max(sx, sy))
    side = min(side, iw, ih)
    nx0 = x1 - side if "l" in corner else x0
    ny0 = y1 - side if "t" in corner else y0
    return Roi(nx0 / iw, ny0 / ih, side / iw, side / ih).clamped()
