"""Render the app icon (assets/icons/fewlens.svg, drawn for FewLens) to the 256 px PNG that icon
themes without SVG support use.  Run once when the SVG changes:

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/linux/render_icon.py
"""

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SVG = HERE.parent.parent / "assets" / "icons" / "fewlens.svg"

if __name__ == "__main__":
    app = QGuiApplication(sys.argv)
    img = QImage(256, 256, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    with QPainter(img) as p:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        QSvgRenderer(str(SVG)).render(p)
    if not img.save(str(HERE / "fewlens.png")):
        sys.exit(f"{HERE / 'fewlens.png'}: cannot write")
    shutil.copyfile(SVG, HERE / "fewlens.svg")
    print(f"wrote {HERE / 'fewlens.png'} and fewlens.svg")
