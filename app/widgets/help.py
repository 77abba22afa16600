"""Help menu pages: how FewLens works, keyboard shortcuts, About (version, notices, licenses)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from core import __version__
from core.adaptation import MIN_SHOTS

HOW_IT_WORKS = """
<h2>How FewLens works</h2>
<p>FewLens learns new classes from a handful of your own images, on this computer: nothing is uploaded.</p>
<ol>
<li><b>Add images.</b> Drop a folder on the window (or <i>File → Add folder…</i>). If its subfolders are
named after classes, FewLens can use those names as labels.</li>
<li><b>Label a few.</b> Add a class per kind of thing (<i>Classes → Add class</i>, Ctrl+K), select images and
press its number key (1–9). One to five images per class is enough to start.</li>
<li><b>Review the rest.</b> Every other image now shows its most likely class and a confidence. Press
<b>Enter</b> to accept a prediction, or a number to correct it. <i>Needs review</i> lists the images
FewLens is least sure about — labeling those teaches it most.</li>
</ol>
<h3>What the numbers mean</h3>
<p>The percentage on a tile is how sure the model is. Images below the <i>Unknown below</i> threshold are
marked <b>unknown</b>: often a kind of image you have no class for yet (see the <i>Unknown</i> filter).
With only one labeled class every image gets it at 100 % — label a second class for real predictions.</p>
<h3>How it recognises</h3>
<p>A pretrained network (the <i>backbone</i>) turns each image into a feature vector once; those are cached,
so predictions update within milliseconds after every label. The <i>method</i> compares each image with
the average of each class's labeled images (its prototype), refined with your unlabeled images when your
labels show that this helps (each label is held out in turn; the status bar says which was chosen).
Once every class has {min_shots} labels, FewLens also fine-tunes the backbone's last layers on your labeled images
in the background (<i>Model → Adapt the backbone</i>), which makes photos several points more accurate.</p>
<h3>Your work is safe</h3>
<p>Every action is saved to the project file at once, and every labeling action can be undone (Ctrl+Z).
A project can be open in one FewLens window at a time.</p>
""".format(min_shots=MIN_SHOTS)


#: (keys, what they do) — the one list the shortcuts page shows.
SHORTCUTS = [
    ("1 – 9", "Label the selected images with that class"),
    ("0 or Backspace", "Remove the label of the selected images"),
    ("Enter", "Accept the predictions of the selected images"),
    ("Delete", "Remove the selected images from the project (files stay on disk)"),
    ("Arrows, Home, End, Page Up/Down", "Move through the gallery (the panel shows what you selected)"),
    ("Shift + arrows / click", "Select a range"),
    ("Ctrl + click", "Add to or remove from the selection"),
    ("Ctrl+A", "Select all images in the current view"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"),
    ("Ctrl+K", "Add a class"),
    ("Ctrl+T", "Try it: predict images without adding them"),
    ("Ctrl+Shift+O", "Add a folder of images"),
    ("Ctrl+O / Ctrl+N", "Open / new project"),
    ("Ctrl++ / Ctrl+- (or Ctrl + wheel)", "Larger / smaller thumbnails"),
    ("F1", "This help"),
]


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td style='padding:4px 16px 4px 0'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
                   for k, v in SHORTCUTS)
    return f"<h2>Keyboard shortcuts</h2><table>{rows}</table>"


def about_html(backbone_id: str | None) -> str:
    from core.paths import assets_dir

    parts = [f"<h2>FewLens {escape(__version__)}</h2>",
             "<p>Few-shot image recognition on your desktop. FewLens's own code is MIT licensed.</p>"]
    from core.self_test import missing_capabilities

    limits = missing_capabilities()  # a light bundle: no torch (no adaptation, no export), no OpenCV
    if limits:
        parts.append("<h3>What this build cannot do</h3><ul>"
                     + "".join(f"<li>{escape(x[0].upper() + x[1:])}.</li>" for x in limits) + "</ul>")
    if backbone_id:
        try:
            from core.backbones import get_backbone

            spec = get_backbone(backbone_id)
            parts.append("<h3>Model in use</h3>"
                         f"<p><b>{escape(spec.title)}</b><br>License: {escape(spec.license)}<br>"
                         f"Source: {escape(spec.source)}</p>")
        except Exception as e:  # noqa: BLE001 - an unregistered user model: say so, do not fail About
            parts.append(f"<h3>Model in use</h3><p>{escape(backbone_id)} ({escape(str(e))})</p>")
    try:
        notice = (assets_dir() / "NOTICE").read_text(encoding="utf-8")
    except OSError:
        notice = "assets/NOTICE is missing from this installation."
    parts.append(f"<h3>Third-party notices</h3><pre style='white-space:pre-wrap'>{escape(notice)}</pre>")
    return "".join(parts)


class HelpDialog(QDialog):
    """One window, three tabs: How it works · Keyboard shortcuts · About."""

    TABS = ("How FewLens works", "Keyboard shortcuts", "About")

    def __init__(self, backbone_id: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("FewLens help")
        self.resize(640, 620)
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        for title, html in zip(self.TABS, (HOW_IT_WORKS, shortcuts_html(), about_html(backbone_id))):
            view = QTextBrowser()
            view.setOpenExternalLinks(False)
            view.setHtml(html)
            self.tabs.addTab(view, title)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(buttons)

    def show_tab(self, title: str) -> None:
        self.tabs.setCurrentIndex(self.TABS.index(title))
        self.show()
        self.raise_()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
