"""The labeled dataset out of a project and back in: folder-per-class files plus ``labels.csv``.

    export_labels(project, "out/", mode="copy")     # out/<class>/<file>, out/labels.csv
    import_labels(project, "out/labels.csv")        # paths resolved relative to the CSV

``labels.csv`` columns: ``path`` (relative to the CSV, '/'-separated), ``class``, ``labeled_by``
(``user`` or ``prediction``: a prediction the user accepted).  The folder layout alone is also a
valid dataset for ``fewlens project create --from`` and ``fewlens predict --support``.

Files are copied, hard-linked or symlinked (the user's choice); the export never touches the
originals.  A labeled image whose file is missing is reported, not fatal, and so is every bad
row of an imported CSV.  Import never overwrites a label the project already has: a conflicting
row is counted and left alone, so nothing the user labeled is lost.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import Cancelled, FewLensError, ImageError
from .images import file_hash
from .project import LABELED_BY_PREDICTION, LABELED_BY_USER, Project

LABELS_CSV = "labels.csv"
COLUMNS = ["path", "class", "labeled_by"]
MODES = ("copy", "hardlink", "symlink")
SOURCES = (LABELED_BY_USER, LABELED_BY_PREDICTION)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

# Characters no file system takes in a folder name (Windows is the strictest).
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


@dataclass
class ExportSummary:
    folder: Path
    csv_path: Path
    written: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    errors: list[ImageError] = field(default_factory=list)  # missing / unreadable originals


@dataclass
class ImportSummary:
    added: int = 0  # images new to the project
    labeled: int = 0  # labels set
    classes_created: list[str] = field(default_factory=list)
    kept: int = 0  # already labeled otherwise in the project: left as they were
    errors: list[ImageError] = field(default_factory=list)  # bad rows / missing files


def class_folder_name(name: str) -> str:
    """A class name as a folder name: unsafe characters replaced, never empty, '.' or '..'."""
    safe = _UNSAFE.sub("_", name).strip().rstrip(".")
    return safe if safe and safe not in (".", "..") else "_"


def _place(src: Path, dst: Path, mode: str) -> None:
    if mode == "copy":
        shutil.copy2(src, dst)
    elif mode == "hardlink":
        os.link(src, dst)
    else:
        os.symlink(os.path.abspath(src), dst)


def export_labels(project: Project, out_dir: os.PathLike | str, mode: str = "copy",
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ExportSummary:
    """Write every labeled image of ``project`` into ``out_dir/<class>/`` plus ``labels.csv``.

    ``out_dir`` must be new or empty (an export never mixes with or overwrites other files).
    Raises FewLensError naming the folder for that and for a mode the file system refuses
    (hard links across drives, symlinks without the right on Windows).
    """
    if mode not in MODES:
        raise FewLensError(f"export mode must be one of {', '.join(MODES)}, not {mode!r}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FewLensError(f"{out}: {'not a folder' if not out.is_dir() else 'not empty'} — export into a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FewLensError(f"{out}: cannot create the folder ({e.strerror or e})") from None
    classes = {c.id: c.name for c in project.classes()}
    sources = project.label_sources()
    records = [r for r in project.images(labeled=True, check_missing=False) if r.class_id in classes]
    folders: dict[int, str] = {}
    used_folders: set[str] = set()
    for cid, name in classes.items():  # two classes whose names clean up alike get distinct folders
        base = folder = class_folder_name(name)
        n = 2
        while folder.lower() in used_folders:
            folder, n = f"{base}_{n}", n + 1
        used_folders.add(folder.lower())
        folders[cid] = folder
    summary = ExportSummary(out, out / LABELS_CSV)
    taken: set[str] = set()
    rows: list[list[str]] = []
    for done, rec in enumerate(records, 1):
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        src = Path(rec.file)
        folder = folders[rec.class_id]
        stem, suffix = src.stem, src.suffix
        rel = f"{folder}/{src.name}"
        if rel.lower() in taken:  # same file name from two source folders
            rel = f"{folder}/{stem}-{rec.id}{suffix}"
        dst = out / folder / PurePosixPath(rel).name
        try:
            dst.parent.mkdir(exist_ok=True)
            if not src.is_file():
                raise ImageError(src, "file not found (locate it in the app, then export again)")
            _place(src, dst, mode)
        except ImageError as e:
            summary.errors.append(e)
        except OSError as e:
            if mode != "copy" and not summary.written:  # the mode itself does not work here
                raise FewLensError(f"{out}: cannot {'hard-link' if mode == 'hardlink' else 'symlink'} "
                                   f"{src} ({e.strerror or e}); export with --mode copy") from None
            summary.errors.append(ImageError(src, f"cannot export ({e.strerror or e})"))
        else:
            taken.add(rel.lower())
            rows.append([rel, classes[rec.class_id], sources.get(rec.id, LABELED_BY_USER)])
            summary.written += 1
            summary.per_class[classes[rec.class_id]] = summary.per_class.get(classes[rec.class_id], 0) + 1
        if progress is not None:
            progress(done, len(records))
    tmp = summary.csv_path.with_name(LABELS_CSV + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    os.replace(tmp, summary.csv_path)
    return summary


def read_labels_csv(csv_path: os.PathLike | str) -> tuple[list[tuple[Path, str, str]], list[ImageError]]:
    """Rows ``(absolute path, class, labeled_by)`` of a labels CSV, and its bad rows as errors.

    Needs ``path`` and ``class`` columns (``labeled_by`` optional, default ``user``); paths are
    resolved relative to the CSV's folder.  A file that is not such a CSV raises FewLensError.
    """
    csv_path = Path(csv_path)
    try:
        f = open(csv_path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise FewLensError(f"{csv_path}: cannot read ({e.strerror or e})") from None
    rows, errors = [], []
    with f:
        try:
            reader = csv.DictReader(f)
            head = [h.strip().lower() for h in (reader.fieldnames or [])]
            if "path" not in head or "class" not in head:
                raise FewLensError(f"{csv_path}: not a labels CSV (needs 'path' and 'class' columns)")
            reader.fieldnames = head
            for line, row in enumerate(reader, 2):
                p, cls = (row.get("path") or "").strip(), (row.get("class") or "").strip()
                by = (row.get("labeled_by") or LABELED_BY_USER).strip().lower()
                where = f"{csv_path} line {line}"
                if not p or not cls:
                    errors.append(ImageError(where, "empty path or class"))
                    continue
                if by not in SOURCES:
                    errors.append(ImageError(where, f"labeled_by must be user or prediction, not {by!r}"))
                    continue
                rows.append((csv_path.parent / Path(p), cls, by))
        except (UnicodeDecodeError, csv.Error) as e:
            raise FewLensError(f"{csv_path}: not a readable CSV ({e})") from None
    return rows, errors


def import_labels(project: Project, csv_path: os.PathLike | str,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ImportSummary:
    """Add the CSV's images to ``project`` with their labels (classes created as needed)."""
    rows, errors = read_labels_csv(csv_path)
    summary = ImportSummary(errors=errors)
    hashed: list[tuple[Path, str, str, str]] = []
    for done, (path, cls, by) in enumerate(rows, 1):
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        try:
            hashed.append((path, file_hash(path), cls, by))
        except ImageError as e:
            summary.errors.append(e)
        if progress is not None:
            progress(done, len(rows))
    if not hashed:
        return summary
    before = project.image_count()
    ids = project.add_images([(p, h) for p, h, _, _ in hashed])
    summary.added = project.image_count() - before
    current = project.labels()
    by_name = {c.name.lower(): c.id for c in project.classes()}
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for img_id, (_, _, cls, by) in zip(ids, hashed):
        cid = by_name.get(cls.lower())
        if cid is None:
            cid = by_name[cls.lower()] = project.add_class(cls)
            summary.classes_created.append(cls)
        if current.get(img_id) not in (None, cid):
            summary.kept += 1
            continue
        groups[(cid, by)].append(img_id)
    for (cid, by), group in groups.items():
        project.set_labels(group, cid, labeled_by=by)
        summary.labeled += len(group)
    return summary


__all__ = ["COLUMNS", "ExportSummary", "ImportSummary", "LABELS_CSV", "MODES", "class_folder_name",
           "export_labels", "import_labels", "read_labels_csv"]
