"""The house rules: core/ never imports Qt or the app, no import circles, no oversized files."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


# --- import circles -----------------------------------------------------------------------------
ROOT = CORE.parent
#: a file this long has more than one job; split it (docs/DESIGN.md: "No file over ~600 lines")
MAX_LINES = 650


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in ("core", "app") for p in sorted((ROOT / top).rglob("*.py"))}


def _imports(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """The project modules ``path`` imports: lazy ones inside functions and ``if TYPE_CHECKING:``
    ones included (a type that needs a back-import is a circle too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # "from pkg import mod" imports the module pkg.mod
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # "core.x.Name" -> the module core.x
                t = t.rpartition(".")[0]
            if t and t != name:
                yield t


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(path, name, known)) for name, path in known.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_circle_finder_sees_a_lazy_import_back():
    graph = {"core.a": {"core.b"}, "core.b": {"core.c"}, "core.c": {"core.a"}, "core.d": {"core.a"}}
    assert import_circles(graph) == [["core.a", "core.b", "core.c"]]
    tree = ast.parse("def f():\n    from .b import g\n")
    assert isinstance(tree.body[0].body[0], ast.ImportFrom)  # ast.walk reaches it: lazy imports count


def test_core_and_app_have_no_import_circles():
    circles = import_circles(import_graph())
    assert circles == [], "import circles (break them: move the shared part below both):\n" + "\n".join(
        " <-> ".join(c) for c in circles)


def test_meta_learning_never_imports_the_methods():
    """One direction between the two packages: methods may use meta-trained heads, not back."""
    graph = import_graph()
    back = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("core.meta")
                  for t in ts if t.startswith("core.methods"))
    assert back == []


def test_no_file_in_core_or_app_is_over_the_size_limit():
    long = {str(p.relative_to(ROOT)): n for p in _modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
