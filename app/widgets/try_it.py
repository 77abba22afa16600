""""Try it": predictions for images that are NOT added to the project."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                               QWidget)

from core.images import IMAGE_EXTENSIONS, scan_sources
from core.live_model import fit_method

from .. import file_dialogs
from ..jobs import TryItJob, TryItResult
from ..session import ProjectSession
from .theme import MUTED


def urls_to_paths(mime) -> list[Path]:
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class TryItDialog(QDialog):
    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.job: TryItJob | None = None
        self.results: list[TryItResult] = []
        self.setWindowTitle("Try it")
        self.setModal(False)
        self.setAcceptDrops(True)
        self.resize(600, 560)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 16)
        title = QLabel("Try it")
        title.setProperty("role", "heading")
        hint = QLabel("Drop images here, or open them, to see what your model predicts. "
                      "They are not added to the project.")
        hint.setProperty("role", "hint")
        hint.setWordWrap(True)
        self.list = QListWidget()
        self.list.setSpacing(2)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setAcceptDrops(False)
        self.status = QLabel()
        self.status.setProperty("role", "hint")
        open_button = QPushButton("Open images…")
        open_button.setProperty("role", "primary")
        open_button.clicked.connect(self.open_images)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(open_button)
        row.addWidget(self.status, 1)
        row.addWidget(close)
        lay.addWidget(title)
        lay.addWidget(hint)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)

    # ------------------------------------------------------------------ input
    def open_images(self) -> None:
        patterns = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        files = file_dialogs.get_open_file_names(self, "Try images", "", f"Images ({patterns})")
        if files:
            self.try_paths([Path(f) for f in files])

    def dragEnterEvent(self, e) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802
        paths = urls_to_paths(e.mimeData())
        if paths:
            e.acceptProposedAction()
            self.try_paths(paths)

    def try_paths(self, paths: list[Path]) -> None:
        files, rejects = scan_sources(paths)
        for err in rejects:
            self._add_item(TryItResult(Path(err.path), [], [], err.reason))
        if not files:
            return
        s = self.session
        # Snapshot the project's state now; the fit itself runs on the worker thread.  The same
        # features as the gallery's predictions: adapted to the labels when those are in use.
        adapted = s.adapted if s.adapted_in_use else None
        emb = adapted.matrix if adapted is not None else s.emb
        method, data, have, labels = s.method, emb.data.copy(), emb.have.copy(), s.labels.copy()
        kwargs, factor = s.method_kwargs(), s.pred.confidence_factor  # the gallery's calibrated confidence
        self.job = TryItJob(files, s.backbone, lambda: fit_method(method, data, have, labels, kwargs, factor), self,
                            features=adapted.network if adapted is not None else None)
        self.job.result.connect(self._add_item)
        self.job.status.connect(self.status.setText)
        self.job.finished.connect(self._finished)
        self.status.setText("Working…")
        self.job.start()

    def _finished(self, job: TryItJob) -> None:
        if job.error:
            self.status.setText(job.error)
        elif job.method is None:
            self.status.setText("Label a few images in the project first: then Try it shows predictions.")
        else:
            self.status.setText(f"{len(self.results)} image{'s' if len(self.results) != 1 else ''} tried")

    # ------------------------------------------------------------------ output
    def _add_item(self, r: TryItResult) -> None:
        """One row: the thumbnail ringed in the predicted class color, the prediction in bold,
        the runners-up, and what the backbone's own classifier sees."""
        self.results.append(r)
        s = self.session
        color = QColor("#9ca3af")
        lines = [f"<span style='color:{MUTED}'>{escape(_elide(r.path.name, 48))}</span>"]
        if r.error:
            lines.append(f"<b>Could not read</b> <span style='color:{MUTED}'>— {escape(r.error)}</span>")
        elif r.top:
            best_cid, best_p = r.top[0]
            best = s.class_by_id(best_cid)
            name = escape(best.name if best else "?")
            if best_p < s.effective_threshold:
                lines.append(f"<b style='font-size:12pt'>Unknown</b> <span style='color:{MUTED}'>"
                             f"— best guess {name}, {best_p:.0%}</span>")
            else:
                color = QColor(best.color) if best else color
                lines.append(f"<b style='font-size:12pt'>{name}</b>&nbsp; {best_p:.0%}")
            others = [f"{escape(s.class_by_id(c).name if s.class_by_id(c) else '?')} {p:.0%}" for c, p in r.top[1:3]]
            if others:
                lines.append(f"<span style='color:{MUTED}'>then {', '.join(others)}</span>")
        elif self.job is not None and self.job.method is None:
            lines.append("<b>No prediction</b> — label a few images first")
        if r.backbone_sees:
            seen = ", ".join(f"{escape(n if len(n) <= 24 else n[:23] + '…')} {p:.0%}" for n, p in r.backbone_sees[:2])
            lines.append(f"<span style='color:{MUTED}'>backbone sees: {seen}</span>")
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(12)
        pic = QLabel()
        pic.setPixmap(self._thumb(r.thumb, color))
        text = QLabel("<br>".join(lines))
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        lay.addWidget(pic)
        lay.addWidget(text, 1)
        row.setToolTip(str(r.path))
        it = QListWidgetItem()
        it.setSizeHint(row.sizeHint().expandedTo(QSize(0, 84)))
        self.list.addItem(it)
        self.list.setItemWidget(it, row)
        self.list.scrollToBottom()

    def row_text(self, k: int) -> str:
        """The k-th result as plain text (what the row says)."""
        from PySide6.QtGui import QTextDocument

        labels = self.list.itemWidget(self.list.item(k)).findChildren(QLabel)
        doc = QTextDocument()
        doc.setHtml(labels[-1].text())
        return doc.toPlainText()

    def _thumb(self, img, ring: QColor) -> QPixmap:
        pm = QPixmap(72, 72)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(ring)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(0, 0, 72, 72, 8, 8)
        if img is not None and not img.isNull():  # decoded by the job, never here
            p.drawImage((72 - img.width()) // 2, (72 - img.height()) // 2, img)
        p.end()
        return pm


def _elide(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n // 2 - 1] + "…" + text[-(n // 2) + 1 :]
