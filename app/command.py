"""``fewlens gui [PROJECT]``: the desktop app's subcommand.

The engine's CLI (``core.cli``) never imports the GUI: it finds this command through the
``fewlens.commands`` entry point declared in pyproject.toml (an install without ``app/`` simply has
no ``gui`` command).  PySide6 is imported only when the command runs.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui",
        help="open the desktop app",
        description="Open PROJECT (a .fewlens file), else the most recent project, "
        "else the bundled sample project.",
    )
    p.add_argument("project", nargs="?", help="project file to open")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .main import run

    return run(args.project, argv=["fewlens"])
