"""``fewlens project export-labels P OUT [--mode copy|hardlink|symlink]`` and
``fewlens project import-labels P LABELS.csv`` (core.labels_io)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register_labels(sub) -> None:
    e = sub.add_parser(
        "export-labels",
        help="write the labeled images as OUT/<class>/ folders plus OUT/labels.csv",
        description="Copy (or hard-link / symlink) every labeled image into OUT/<class>/ and write OUT/labels.csv "
        "(path, class, labeled_by: user or an accepted prediction).",
    )
    e.add_argument("path", type=Path, metavar="PROJECT")
    e.add_argument("out", type=Path, metavar="OUT", help="new or empty folder")
    e.add_argument("--mode", default="copy", choices=["copy", "hardlink", "symlink"],
                   help="how files get into OUT (default copy; links save space but follow the originals)")
    e.set_defaults(func=run_export)

    i = sub.add_parser(
        "import-labels",
        help="add the images of a labels.csv to a project, labeled",
        description="Add every image listed in CSV (columns path, class[, labeled_by]; paths relative to the CSV) "
        "to PROJECT with its label, creating classes as needed.  Labels already in the project are kept.",
    )
    i.add_argument("path", type=Path, metavar="PROJECT")
    i.add_argument("csv", type=Path, metavar="CSV")
    i.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from ..labels_io import export_labels
    from ..project import Project

    with Project.open(args.path) as proj:
        s = export_labels(proj, args.out, mode=args.mode)
    for err in s.errors:
        print(f"fewlens: skipped {err}", file=sys.stderr)
    per = ", ".join(f"{k} {v}" for k, v in s.per_class.items())
    print(f"exported {s.written} labeled images ({per or 'none'}) to {s.folder}, labels in {s.csv_path}")
    return 1 if s.errors else 0


def run_import(args: argparse.Namespace) -> int:
    from ..labels_io import import_labels
    from ..project import Project

    with Project.open(args.path) as proj:
        s = import_labels(proj, args.csv)
    for err in s.errors:
        print(f"fewlens: skipped {err}", file=sys.stderr)
    new = f", new classes: {', '.join(s.classes_created)}" if s.classes_created else ""
    kept = f", {s.kept} already labeled otherwise (kept)" if s.kept else ""
    print(f"imported {s.labeled} labels into {args.path} ({s.added} new images{new}{kept})")
    return 1 if s.errors else 0
