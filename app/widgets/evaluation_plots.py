"""QPainter plots of the Evaluation view: confusion matrix, reliability diagram, embedding map.

Plain QWidgets (no plotting dependency): each draws a few hundred shapes at most, except the
map, which draws one dot per image from NumPy arrays (100,000 dots paint in well under a second).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

GRID = QColor("#d0d4da")
TEXT = QColor("#2b2f36")
HINT = QColor("#7a818c")
ACCENT = QColor("#2f6fde")
UNKNOWN = QColor("#b4b9c1")


class ConfusionMatrixWidget(QWidget):
    """Rows: the label given; columns: the held-out prediction.  Click a cell: those images."""

    cellClicked = Signal(int, int)  # row (true) index, column (predicted) index

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix = np.zeros((0, 0), np.int64)
        self.names: list[str] = []
        self.colors: list[str] = []
        self.hover: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(360, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_data(self, matrix: np.ndarray, names: list[str], colors: list[str]) -> None:
        self.matrix, self.names, self.colors = np.asarray(matrix), list(names), list(colors)
        self.update()

    def _geometry(self) -> tuple[int, int, float]:
        n = max(len(self.names), 1)
        left, top = 120, 70
        side = max(8.0, min((self.width() - left - 16) / n, (self.height() - top - 16) / n))
        return left, top, side

    def cell_rect(self, i: int, j: int) -> QRect:
        left, top, side = self._geometry()
        return QRectF(left + j * side, top + i * side, side, side).toRect()

    def cell_at(self, pos) -> tuple[int, int] | None:
        left, top, side = self._geometry()
        j, i = int((pos.x() - left) // side), int((pos.y() - top) // side)
        n = len(self.names)
        return (i, j) if 0 <= i < n and 0 <= j < n and pos.x() >= left and pos.y() >= top else None

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        cell = self.cell_at(e.position())
        if cell != self.hover:
            self.hover = cell
            if cell is not None:
                i, j = cell
                self.setToolTip(f"{self.matrix[i, j]} labeled {self.names[i]}, predicted {self.names[j]}: click to show them")
            self.update()

    def mousePressEvent(self, e) -> None:  # noqa: N802
        cell = self.cell_at(e.position())
        if cell is not None and e.button() == Qt.MouseButton.LeftButton:
            self.cellClicked.emit(*cell)

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        n = len(self.names)
        if not n:
            p.setPen(HINT)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Label images of two classes to see a confusion matrix.")
            return
        left, top, side = self._geometry()
        rows = self.matrix.sum(1)
        f = QFont(self.font())
        f.setPointSizeF(max(7.0, min(10.0, side / 4)))
        p.setFont(f)
        for i in range(n):
            for j in range(n):
                r = QRectF(left + j * side, top + i * side, side, side)
                frac = self.matrix[i, j] / rows[i] if rows[i] else 0.0
                base = QColor("#2e9d5b") if i == j else QColor("#d9534f")
                c = QColor(base)
                c.setAlphaF(0.08 + 0.85 * frac if self.matrix[i, j] else 0.0)
                p.fillRect(r, c)
                p.setPen(QPen(GRID, 1))
                p.drawRect(r)
                if self.matrix[i, j]:
                    p.setPen(QColor("white") if frac > 0.55 else TEXT)
                    p.drawText(r, Qt.AlignmentFlag.AlignCenter, str(int(self.matrix[i, j])))
        if self.hover is not None:
            p.setPen(QPen(ACCENT, 2))
            p.drawRect(QRectF(left + self.hover[1] * side, top + self.hover[0] * side, side, side))
        p.setPen(TEXT)
        for i, name in enumerate(self.names):
            p.fillRect(QRectF(4, top + i * side + side / 2 - 5, 10, 10), QColor(self.colors[i] if i < len(self.colors) else "#888"))
            p.drawText(QRectF(18, top + i * side, left - 22, side), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, left - 24))
            p.save()
            p.translate(left + i * side + side / 2, top - 6)
            p.rotate(-45)
            p.drawText(0, 0, p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, 90))
            p.restore()
        p.setPen(HINT)
        p.drawText(QRect(left, 2, self.width() - left, 16), Qt.AlignmentFlag.AlignLeft, "predicted (held out) →")
        p.save()
        p.translate(12, top - 8)
        p.drawText(0, 0, "your label ↓")
        p.restore()


class ReliabilityWidget(QWidget):
    """Held-out confidence vs how often it was right; the diagonal is perfect calibration."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bins = None
        self.setMinimumSize(320, 260)

    def set_bins(self, bins) -> None:
        self.bins = bins
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(420, 320)

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        b = self.bins
        m = 44
        side = min(self.width() - 2 * m, self.height() - 2 * m)
        x0, y0 = m, m / 2 + side
        p.setPen(QPen(GRID, 1))
        p.drawRect(QRectF(x0, y0 - side, side, side))
        for t in (0.25, 0.5, 0.75):
            p.drawLine(QPointF(x0 + t * side, y0), QPointF(x0 + t * side, y0 - side))
            p.drawLine(QPointF(x0, y0 - t * side), QPointF(x0 + side, y0 - t * side))
        p.setPen(QPen(HINT, 1, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(x0, y0), QPointF(x0 + side, y0 - side))
        p.setPen(TEXT)
        p.drawText(QRectF(x0, y0 + 4, side, 18), Qt.AlignmentFlag.AlignCenter, "confidence")
        p.save()
        p.translate(14, y0 - side / 2 + 30)
        p.rotate(-90)
        p.drawText(0, 0, "how often right")
        p.restore()
        for t in (0, 0.5, 1):
            p.drawText(QRectF(x0 + t * side - 20, y0 + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, f"{t:.0%}" if t else "")
        if b is None or not b.count.sum():
            p.setPen(HINT)
            p.drawText(QRectF(x0, y0 - side, side, side), Qt.AlignmentFlag.AlignCenter, "No held-out predictions yet")
            return
        w = side / len(b.count)
        for k in range(len(b.count)):
            if not b.count[k]:
                continue
            acc = b.accuracy[k]
            r = QRectF(x0 + k * w + 2, y0 - acc * side, w - 4, acc * side)
            c = QColor(ACCENT)
            c.setAlphaF(0.35 + 0.6 * min(1.0, b.count[k] / max(b.count.max(), 1)))
            p.fillRect(r, c)
            p.setPen(HINT)
            p.drawText(QRectF(x0 + k * w, y0 - side + 2, w, 14), Qt.AlignmentFlag.AlignCenter, str(int(b.count[k])))
        p.setPen(TEXT)
        p.drawText(QRectF(x0, y0 - side - 18, side, 16), Qt.AlignmentFlag.AlignLeft,
                   f"calibration error {100 * b.ece:.1f} %  (numbers: images per bin)")


class EmbeddingMapWidget(QWidget):
    """Every image as a dot (PCA of its embedding), colored by label or prediction.
    Click a dot or drag a lasso around several: ``selected`` gives their indices."""

    selected = Signal(list)  # indices into the arrays given to set_points

    def __init__(self, parent=None):
        super().__init__(parent)
        self.xy = np.zeros((0, 2), np.float32)
        self.color_idx = np.zeros(0, np.int64)  # index into palette, -1 = unknown / none
        self.labeled = np.zeros(0, bool)
        self.palette: list[QColor] = []
        self.lasso: list[QPointF] = []
        self.highlight = np.zeros(0, np.int64)
        self.setMinimumSize(420, 320)
        self.setMouseTracking(False)

    def set_points(self, xy: np.ndarray, color_idx: np.ndarray, labeled: np.ndarray, palette: list[str]) -> None:
        self.xy = np.asarray(xy, np.float32)
        self.color_idx, self.labeled = np.asarray(color_idx), np.asarray(labeled, bool)
        self.palette = [QColor(c) for c in palette]
        self.highlight = np.zeros(0, np.int64)
        self.update()

    def screen_points(self) -> np.ndarray:
        """(N, 2) widget coordinates of every dot (nan for images without one)."""
        ok = ~np.isnan(self.xy).any(1)
        out = np.full_like(self.xy, np.nan)
        if not ok.any():
            return out
        lo, hi = self.xy[ok].min(0), self.xy[ok].max(0)
        span = np.maximum(hi - lo, 1e-6)
        m = 16
        w, h = self.width() - 2 * m, self.height() - 2 * m
        out[ok, 0] = m + (self.xy[ok, 0] - lo[0]) / span[0] * w
        out[ok, 1] = m + (1 - (self.xy[ok, 1] - lo[1]) / span[1]) * h
        return out

    def mousePressEvent(self, e) -> None:  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self.lasso = [e.position()]

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        if self.lasso:
            self.lasso.append(e.position())
            self.update()

    def mouseReleaseEvent(self, e) -> None:  # noqa: N802
        if not self.lasso:
            return
        pts = self.screen_points()
        ok = ~np.isnan(pts).any(1)
        if len(self.lasso) < 4:  # a click: the nearest dot within a few pixels
            q = np.array([e.position().x(), e.position().y()])
            d = np.where(ok, np.hypot(*(pts - q).T), np.inf) if len(pts) else np.zeros(0)
            hits = [int(np.argmin(d))] if len(d) and d.min() <= 8 else []
        else:
            path = QPainterPath()
            path.addPolygon(QPolygonF(self.lasso))
            path.closeSubpath()
            hits = [int(i) for i in np.flatnonzero(ok) if path.contains(QPointF(*pts[i]))]
        self.lasso = []
        self.highlight = np.asarray(hits, np.int64)
        self.update()
        if hits:
            self.selected.emit(hits)

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#fbfbfc"))
        pts = self.screen_points()
        ok = ~np.isnan(pts).any(1)
        if not ok.any():
            p.setPen(HINT)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The map appears once images are analysed.")
            return
        # unlabeled first (small), labeled on top (bigger, outlined)
        for lab in (False, True):
            for k in range(-1, len(self.palette)):
                sel = ok & (self.labeled == lab) & (self.color_idx == k)
                if not sel.any():
                    continue
                c = QColor(self.palette[k]) if k >= 0 else QColor(UNKNOWN)
                if not lab:
                    c.setAlphaF(0.55)
                p.setBrush(c)
                p.setPen(QPen(QColor("#1f2329"), 1) if lab else Qt.PenStyle.NoPen)
                r = 4.5 if lab else 2.6
                for x, y in pts[sel]:
                    p.drawEllipse(QPointF(x, y), r, r)
        if len(self.highlight):
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(ACCENT, 2))
            for x, y in pts[self.highlight]:
                if x == x:
                    p.drawEllipse(QPointF(x, y), 6, 6)
        if self.lasso:
            p.setPen(QPen(ACCENT, 1.5, Qt.PenStyle.DashLine))
            p.setBrush(QColor(47, 111, 222, 30))
            p.drawPolygon(QPolygonF(self.lasso))
