"""The right-hand panel: the selected image large, its top-5 predictions with
probabilities, and (secondary) what the backbone's own classifier sees."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from core.live_model import UNLABELED, auto_threshold_help

from ..session import ProjectSession
from .theme import MUTED, TEXT


class ImagePreview(QWidget):
    """Paints a QImage scaled to fit, centered, on a soft background."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.message = ""
        self.setMinimumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(300, 280)

    def set_image(self, image: QImage | None, message: str = "") -> None:
        self.image = image
        self.message = message
        self.update()

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect())
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#f1f3f6"))
        p.drawRoundedRect(r, 8, 8)
        if self.image is not None and not self.image.isNull():
            w, h = self.image.width(), self.image.height()
            s = min(r.width() / w, r.height() / h)
            t = QRectF(r.x() + (r.width() - w * s) / 2, r.y() + (r.height() - h * s) / 2, w * s, h * s)
            p.drawImage(t, self.image)
        elif self.message:
            p.setPen(QColor(MUTED))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)


class PredictionBars(QWidget):
    """Rows of: color dot, class name, probability bar, percentage."""

    ROW = 26

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, str, float]] = []  # (name, color, prob)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_rows(self, rows: list[tuple[str, str, float]]) -> None:
        self.rows = rows
        self.setFixedHeight(max(1, len(rows)) * self.ROW)
        self.update()

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self.font())
        pct_w = fm.horizontalAdvance("100%") + 4
        name_w = min(130, int(self.width() * 0.42))
        for k, (name, color, prob) in enumerate(self.rows):
            y = k * self.ROW
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(color))
            p.drawEllipse(QRectF(0, y + self.ROW / 2 - 5, 10, 10))
            p.setPen(QColor(TEXT))
            p.drawText(QRectF(16, y, name_w - 20, self.ROW), Qt.AlignmentFlag.AlignVCenter,
                       fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 20))
            bar = QRectF(name_w, y + self.ROW / 2 - 4, self.width() - name_w - pct_w, 8)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#e5e7eb"))
            p.drawRoundedRect(bar, 4, 4)
            p.setBrush(QColor(color))
            p.drawRoundedRect(QRectF(bar.x(), bar.y(), max(4.0, bar.width() * prob), bar.height()), 4, 4)
            p.setPen(QColor(MUTED))
            p.drawText(QRectF(self.width() - pct_w, y, pct_w, self.ROW),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{prob:.0%}")


class DetailView(QFrame):
    acceptRequested = Signal()
    locateRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sidePanel")
        self.setProperty("side", "right")
        self.session: ProjectSession | None = None
        self.image_id = -1
        self.selection_count = 0
        self.backbone_sees: list[tuple[str, float]] = []

        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 16)
        lay.setSpacing(10)
        self.title = QLabel("No image selected")
        self.title.setProperty("role", "heading")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel("Click an image to see what FewLens thinks it is.")
        self.subtitle.setProperty("role", "hint")
        self.subtitle.setWordWrap(True)
        self.preview = ImagePreview()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.pred_heading = QLabel("Top predictions")
        self.pred_heading.setProperty("role", "heading")
        self.bars = PredictionBars()
        self.sees = QLabel()
        self.sees.setProperty("role", "hint")
        self.sees.setWordWrap(True)
        self.accept_button = QPushButton("Accept prediction  ⏎")
        self.accept_button.setProperty("role", "primary")
        self.accept_button.clicked.connect(self.acceptRequested)
        self.locate_button = QPushButton("Locate missing files…")
        self.locate_button.clicked.connect(self.locateRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.locate_button)
        buttons.addStretch(1)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.status)
        lay.addSpacing(4)
        lay.addWidget(self.pred_heading)
        lay.addWidget(self.bars)
        lay.addWidget(self.sees)
        lay.addLayout(buttons)
        lay.addStretch(0)
        self.setMinimumWidth(300)
        self._refresh_text()

    def set_session(self, session: ProjectSession | None) -> None:
        if self.session is not None:
            for sig in (self.session.predictionsChanged, self.session.labelsChanged, self.session.classesChanged):
                try:
                    sig.disconnect(self._refresh_text)
                except (RuntimeError, TypeError):
                    pass
        self.session = session
        if session is not None:
            session.predictionsChanged.connect(self._refresh_text)
            session.labelsChanged.connect(self._refresh_text)
            session.classesChanged.connect(self._refresh_text)
        self.show_image(-1)

    def show_image(self, image_id: int, selection_count: int = 1) -> None:
        """Called by the window when the current image changes; the picture arrives later
        through :meth:`set_loaded` (decoded off the UI thread)."""
        if image_id != self.image_id:
            self.preview.set_image(None, "Loading…" if image_id >= 0 else "")
            self.backbone_sees = []
        self.image_id = image_id
        self.selection_count = selection_count
        self._refresh_text()

    def set_loaded(self, image_id: int, image: QImage | None, error: str | None,
                   sees: list[tuple[str, float]]) -> None:
        if image_id != self.image_id:
            return  # a slow decode of an image the user already moved past
        self.preview.set_image(image, error or "")
        self.backbone_sees = sees
        self._refresh_text()

    # ------------------------------------------------------------------ text
    def _refresh_text(self, *_args) -> None:
        s = self.session
        row = s.row_of(self.image_id) if (s is not None and self.image_id >= 0) else None
        if row is None:
            self.title.setText("No image selected")
            self.subtitle.setText("Click an image to see what FewLens thinks it is.")
            self.preview.set_image(None, "")
            for w in (self.preview, self.status, self.pred_heading, self.bars, self.sees, self.accept_button,
                      self.locate_button):
                w.hide()
            return
        self.preview.show()
        info = s.image_row(row)
        fm = QFontMetrics(self.title.font())
        self.title.setText(fm.elidedText(info.path.name, Qt.TextElideMode.ElideMiddle, max(120, self.width() - 40)))
        self.title.setToolTip(str(info.path))
        n = self.selection_count
        if n > 1:  # keys label the whole selection: say so where the user is looking
            self.subtitle.setText(f"<b>{n:,} selected</b> — press a number to label all {n:,}, "
                                  "Enter to accept their predictions. Showing this one.")
        else:
            self.subtitle.setText(_short_folder(info.path))

        if info.missing:
            self.status.setText("⚠  This file is missing. Locate its folder to relink it.")
        elif info.label != UNLABELED:
            c = s.class_by_id(info.label)
            self.status.setText(f"Labeled <b>{c.name if c else '?'}</b> by you. Press 0 to remove the label.")
        elif info.predicted != UNLABELED and s.pred.class_ids.size == 1:
            # one labeled class: "100 %" would say nothing (issue 10)
            c = s.class_by_id(info.predicted)
            self.status.setText(f"Only <b>{c.name if c else '?'}</b> has labels, so every image gets it at 100 %. "
                                "Label images of a second class (or set an unknown threshold) for predictions "
                                "that mean something.")
        elif info.predicted != UNLABELED:
            c = s.class_by_id(info.predicted)
            if info.unknown:
                why = auto_threshold_help(s.effective_threshold) + "." if s.auto_threshold else ""
                self.status.setText(f"<b>Unknown</b>: best guess {c.name if c else '?'} at {info.confidence:.0%}, "
                                    f"below the unknown threshold. {why}")
            else:
                self.status.setText(f"Predicted <b>{c.name if c else '?'}</b> ({info.confidence:.0%}). "
                                    "Press Enter to accept, or a number to correct it.")
        elif not info.embedded:
            self.status.setText("Analysing this image…")
        elif not s.classes:
            self.status.setText("Add a class and label a few images: predictions appear here.")
        else:
            self.status.setText("Label at least one image to get predictions.")
        self.status.show()

        top = s.pred.top_k(row, 5)
        rows = []
        for cid, prob in top:
            c = s.class_by_id(cid)
            if c is not None:
                rows.append((c.name, c.color, prob))
        self.bars.set_rows(rows)
        self.pred_heading.setVisible(bool(rows))
        self.bars.setVisible(bool(rows))
        if self.backbone_sees:
            seen = ", ".join(f"{name} {p:.0%}" for name, p in self.backbone_sees[:3])
            self.sees.setText(f"The backbone alone sees: {seen}")
            self.sees.show()
        else:
            self.sees.hide()
        self.accept_button.setVisible(info.label == UNLABELED and info.predicted != UNLABELED and not info.unknown)
        self.locate_button.setVisible(info.missing)


def _short_folder(path: Path) -> str:
    parts = path.parent.parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else str(path.parent)
