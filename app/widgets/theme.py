"""Colors and the application style sheet: one light, calm look (Lobe-like)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2563eb"
TEXT = "#1f2937"
MUTED = "#6b7280"
BORDER = "#e3e6eb"
SURFACE = "#ffffff"
WINDOW = "#f6f7f9"


def readable_on(hex_color: str) -> str:
    """Black or white text, whichever reads better on ``hex_color`` (WCAG luminance)."""
    c = QColor(hex_color)

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())
    return "#111827" if lum > 0.35 else "#ffffff"


STYLE = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QWidget {{ color: {TEXT}; }}
QToolBar {{ background: {SURFACE}; border: none; border-bottom: 1px solid {BORDER}; spacing: 6px; padding: 6px 10px; }}
QToolBar QLabel {{ color: {MUTED}; padding-left: 6px; }}
QToolButton {{ padding: 5px 9px; border-radius: 6px; }}
QToolButton:hover {{ background: #eef1f5; }}
QToolButton:checked {{ background: #e0e9fb; color: {ACCENT}; font-weight: 600; }}
QStatusBar {{ background: {SURFACE}; border-top: 1px solid {BORDER}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; }}
QListView#gallery {{ background: {WINDOW}; border: none; }}
QFrame#sidePanel {{ background: {SURFACE}; border: none; }}
QFrame#sidePanel[side="left"] {{ border-right: 1px solid {BORDER}; }}
QFrame#sidePanel[side="right"] {{ border-left: 1px solid {BORDER}; }}
QLabel[role="heading"] {{ font-weight: 700; font-size: 11pt; color: {TEXT}; }}
QLabel[role="hint"] {{ color: {MUTED}; }}
QListWidget#classList {{ border: none; background: transparent; outline: none; }}
QListWidget#classList::item {{ border-radius: 8px; margin: 1px 0; }}
QListWidget#classList::item:selected {{ background: #e8effc; }}
QListWidget#classList::item:hover {{ background: #f1f4f8; }}
QPushButton {{ background: {SURFACE}; border: 1px solid #d5dae1; border-radius: 6px; padding: 5px 12px; }}
QPushButton:hover {{ background: #f3f5f8; }}
QPushButton[role="primary"] {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; font-weight: 600; }}
QPushButton[role="primary"]:hover {{ background: #1d4ed8; }}
QComboBox {{ background: {SURFACE}; border: 1px solid #d5dae1; border-radius: 6px; padding: 3px 8px; min-height: 20px; }}
QComboBox:hover {{ border-color: #b8c0cc; }}
QComboBox::drop-down {{ border: none; width: 20px; }}
QFrame#taskBanner {{ background: #eef4ff; border: 1px solid #d6e2fb; border-radius: 6px; }}
QPushButton[role="small"] {{ padding: 1px 10px; }}
QFrame#reportBanner {{ background: #fff8e6; border-bottom: 1px solid #f3dca0; }}
QLabel#reportTitle {{ font-weight: 700; color: #92400e; }}
QListWidget#reportList {{ background: #fffdf7; border: 1px solid #f3dca0; border-radius: 6px; }}
QFrame#filterBar {{ background: {WINDOW}; }}
QProgressBar {{ border: none; background: #dbe3f0; border-radius: 4px; height: 8px; text-align: center; max-height: 8px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QSlider::groove:horizontal {{ height: 4px; background: #d5dae1; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {SURFACE}; border: 2px solid {ACCENT}; width: 12px; height: 12px; margin: -6px 0; border-radius: 8px; }}
"""


def icon(name: str):
    """An icon from assets/icons (SVG), or an empty icon when the file is not bundled."""
    from PySide6.QtGui import QIcon

    from core.paths import assets_dir

    path = assets_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = app.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor(WINDOW))
    pal.setColor(QPalette.ColorRole.Base, QColor(SURFACE))
    pal.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    pal.setColor(QPalette.ColorRole.Button, QColor(SURFACE))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    app.setPalette(pal)
    f = app.font()
    if f.pointSizeF() < 10:
        f.setPointSizeF(10)
        app.setFont(f)
    from core.paths import assets_dir

    chevron = (assets_dir() / "icons" / "chevron-down.svg").as_posix()
    app.setStyleSheet(STYLE + f"QComboBox::down-arrow {{ image: url({chevron}); width: 12px; height: 12px; }}")
    app.setWindowIcon(icon("fewlens"))


__all__ = ["ACCENT", "TEXT", "MUTED", "BORDER", "SURFACE", "WINDOW", "readable_on", "apply_theme", "icon"]
