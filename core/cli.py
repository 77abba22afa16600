"""The ``fewlens`` command line.  Thin: each subcommand lives in ``core/commands/<name>.py``
and exposes ``register(subparsers)``; its handler returns an exit code.
Errors the user can act on (FewLensError) print as one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import FewLensError

# Subcommand modules, in help order.  Each has register(subparsers) -> sets func=handler.
COMMAND_MODULES = [
    "core.commands.backbones",
    "core.commands.predict",
    "core.commands.evaluate",
    "core.commands.metatrain",
    "core.commands.lake",
    "core.commands.project",
    "core.commands.camera",
    "core.commands.distributed",
    "core.commands.export",
]
# Commands from other packages (the desktop app's `gui`) plug in through this entry-point group,
# so the engine never imports them by name.
ENTRY_POINT_GROUP = "fewlens.commands"


def build_parser(plugins=None) -> argparse.ArgumentParser:
    """``plugins``: register functions to use instead of the entry-point lookup (frozen bundles)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="fewlens", description="Few-shot image recognition.")
    parser.add_argument("--version", action="version", version=f"fewlens {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this install end to end on the bundled sample photos and exit "
                             "(0: every check passed or was skipped for a missing part)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # not shipped in this build
                continue
            raise
        mod.register(sub)
    for register in _plugin_commands() if plugins is None else plugins:
        register(sub)
    return parser


def _plugin_commands():
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            yield ep.load()
        except ModuleNotFoundError:  # its package (e.g. PySide6) is not installed in this build
            continue


def main(argv: list[str] | None = None, plugins=None) -> int:
    try:
        parser = build_parser(plugins)
        args = parser.parse_args(argv)
        if args.self_test:
            from .self_test import run

            return run(parser)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return code
    except FewLensError as e:
        print(f"fewlens: error: {' '.join(str(e).split())}", file=sys.stderr)  # always one line
        return 1
    except KeyboardInterrupt:
        print("fewlens: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_stdout()
    except Exception as e:  # a bug: one line + a crash report with the traceback, never the traceback
        from .crash import report_crash

        print(f"fewlens: error: {report_crash(e, 'command line')}", file=sys.stderr)
        return 70  # EX_SOFTWARE


def _closed_stdout() -> int:
    """``fewlens ... | head -1``: the reader left.  Quiet exit; point stdout at devnull so the
    interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
