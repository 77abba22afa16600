"""Bundle entry point: the ``fewlens`` CLI.  Started with no arguments (double-click) or with
just a project file (opened from the file manager), it opens the app."""

import sys

from app.command import register as register_gui
from core.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or (len(args) == 1 and args[0].lower().endswith(".fewlens")):
        sys.argv[1:1] = ["gui"]
    # a frozen bundle may lack the package metadata the `gui` entry point is declared in
    sys.exit(main(plugins=[register_gui]))
