"""The engine stays GUI-free: nothing under core/ imports Qt or the app package."""

from __future__ import annotations

import ast
from pathlib import Path

import core
from core.cli import build_parser

CORE = Path(core.__file__).parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "app")


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # function-level (lazy) imports count too
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_core_never_imports_qt_or_the_app():
    offenders = [
        f"{p.relative_to(CORE.parent)} imports {m}"
        for p in sorted(CORE.rglob("*.py"))
        for m in _imported_modules(p)
        if m.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_the_gui_command_plugs_in_through_its_entry_point():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert "gui" in sub.choices  # registered by app.command via the fewlens.commands entry point
    assert "gui" not in next(a for a in build_parser(plugins=[])._actions if a.dest == "command").choices


def test_file_dialogs_go_through_the_helper_that_never_opens_listed_files():
    """A QFileDialog that sniffs the project file drops SQLite's locks on it (issue 10): every
    dialog must come from app/file_dialogs.py (non-native, name-only icon provider)."""
    app_dir = CORE.parent / "app"
    offenders = []
    for p in sorted(app_dir.rglob("*.py")):
        if p.name == "file_dialogs.py":
            continue
        tree = ast.parse(p.read_text(), filename=str(p))
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name in ("QFileDialog", "QFileSystemModel"):
                offenders.append(f"{p.relative_to(app_dir.parent)}:{node.lineno} uses {name}")
    assert offenders == []
