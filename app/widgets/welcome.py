"""The first-run welcome: what FewLens does in three steps, and what the first wait is for.

Shown once (a marker in the config folder), over the sample project, which opens behind it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.paths import config_dir

_MARKER = "welcome-shown"

STEPS = [
    ("1", "Add your images", "Drop a folder on the window. Subfolder names can become your classes."),
    ("2", "Label a few", "Select images and press a class's number key. 1–5 per class is enough."),
    ("3", "Check the rest", "Every other image shows a prediction. Enter accepts it, a number corrects it."),
]


def welcome_due() -> bool:
    return not (config_dir() / _MARKER).exists()


def mark_welcome_shown() -> None:
    try:
        d = config_dir()
        d.mkdir(parents=True, exist_ok=True)
        (d / _MARKER).write_text("1\n", encoding="utf-8")
    except OSError:
        pass  # a read-only config folder: the welcome shows again next time, nothing worse


class WelcomeDialog(QDialog):
    """Non-modal, so the model loads (and the sample project fills in) behind it."""

    ownImagesRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to FewLens")
        self.setModal(False)
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(26, 22, 26, 20)
        lay.setSpacing(12)
        title = QLabel("Welcome to FewLens")
        title.setStyleSheet("font-size: 16pt; font-weight: 700;")
        intro = QLabel("Teach your computer to recognise new kinds of images from a handful of examples — "
                       "all on this machine.")
        intro.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(intro)
        for num, head, text in STEPS:
            row = QHBoxLayout()
            badge = QLabel(num)
            badge.setFixedSize(30, 30)
            badge.setStyleSheet("background: #2563eb; color: white; border-radius: 15px; font-weight: 700;"
                                "qproperty-alignment: AlignCenter;")
            body = QLabel(f"<b>{head}</b><br>{text}")
            body.setWordWrap(True)
            row.addWidget(badge)
            row.addSpacing(8)
            row.addWidget(body, 1)
            lay.addLayout(row)
        self.wait_note = QLabel("A sample project of clothing photos is open behind this window. "
                                "On this first start FewLens prepares its recognition model (about 20 seconds, "
                                "once); its predictions appear as soon as it is ready.")
        self.wait_note.setWordWrap(True)
        self.wait_note.setProperty("role", "hint")
        lay.addWidget(self.wait_note)
        buttons = QHBoxLayout()
        own = QPushButton("Use my own images…")
        own.clicked.connect(self._own)
        sample = QPushButton("Explore the sample")
        sample.setProperty("role", "primary")
        sample.setDefault(True)
        sample.clicked.connect(self.accept)
        buttons.addStretch(1)
        buttons.addWidget(own)
        buttons.addWidget(sample)
        lay.addSpacing(6)
        lay.addLayout(buttons)
        self.finished.connect(lambda _r: mark_welcome_shown())

    def _own(self) -> None:
        self.accept()
        self.ownImagesRequested.emit()
