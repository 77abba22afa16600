""""Try it": predictions for images that are NOT added to the project.

By default with the project's model (the session's Recognizer: what the gallery predicts with);
"Load model…" switches to a FewLens-exported ``.onnx`` (core.recognizer.Recognizer.load), so a
model that left the app can be checked on new photos.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                               QWidget)

from core.images import IMAGE_EXTENSIONS, scan_sources

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
        self.model = None  # a loaded exported Recognizer; None: the project's own model
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
        load_button = QPushButton("Load model…")
        load_button.setToolTip("Try a model exported from FewLens (.onnx) instead of this project's")
        load_button.clicked.connect(self.load_model_dialog)
        self.model_label = QLabel("Model: this project's")
        self.model_label.setProperty("role", "hint")
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(open_button)
        row.addWidget(load_button)
        row.addWidget(self.status, 1)
        row.addWidget(close)
        lay.addWidget(title)
        lay.addWidget(hint)
        lay.addWidget(self.model_label)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)

    # ------------------------------------------------------------------ input
    def open_images(self) -> None:
        patterns = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        files = file_dialogs.get_open_file_names(self, "Try images", "", f"Images ({patterns})")
        if files:
            self.try_paths([Path(f) for f in files])

    def load_model_dialog(self) -> None:
        path = file_dialogs.get_open_file_name(self, "Load a FewLens model", "", "FewLens model (*.onnx)")
        if path:
            self.load_model(Path(path))

    def load_model(self, path: Path) -> bool:
        """Predict with an exported model from now on; a foreign or corrupt file is named in the
        status line and the current model stays."""
        from core.errors import FewLensError
        from core.recognizer import Recognizer

        try:
            model = Recognizer.load(path)
        except FewLensError as e:
            self.status.setText(str(e))
            return False
        self.model = model
        names = ", ".join(model.class_names)
        self.model_label.setText(f"Model: {path.name} ({model.method_name}, {len(model.classes)} classes: "
                                 f"{escape(_elide(names, 80))})")
        self.model_label.setToolTip(str(path))
        self.status.setText(f"Loaded {path.name}")
        return True

    def use_project_model(self) -> None:
        self.model = None
        self.model_label.setText("Model: this project's")

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
        if self.model is not None:
            model = self.model
            self.job = TryItJob(files, None, lambda: model)
        else:
            # the session's model as it is now (fitted on the worker thread, on the gallery's features)
            self.job = TryItJob(files, self.session.backbone, self.session.recognizer_snapshot())
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
            best_name, best_color = self._class(best_cid)
            name = escape(best_name)
            threshold = self.model.unknown_threshold if self.model is not None else s.effective_threshold
            if best_p < threshold:
                lines.append(f"<b style='font-size:12pt'>Unknown</b> <span style='color:{MUTED}'>"
                             f"— best guess {name}, {best_p:.0%}</span>")
            else:
                color = QColor(best_color) if best_color else color
                lines.append(f"<b style='font-size:12pt'>{name}</b>&nbsp; {best_p:.0%}")
            others = [f"{escape(self._class(c)[0])} {p:.0%}" for c, p in r.top[1:3]]
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

    def _class(self, cid: int) -> tuple[str, str | None]:
        """(name, color) of a result's class: the loaded model's column, or the project's class."""
        if self.model is not None:
            c = self.model.classes[cid] if 0 <= cid < len(self.model.classes) else None
            return (c.name, c.color) if c else ("?", None)
        c = self.session.class_by_id(cid)
        return (c.name, c.color) if c else ("?", None)

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
