"""Folder-per-class support sets: ``root/<class>/**/<image>`` -> {class: [images]}."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import FewLensError
from .images import find_images


def scan_class_folders(root: Path, warn=None) -> tuple[dict[str, list[Path]], list[Path]]:
    """``root/<class>/**/<image>`` -> ({class: [images]} with every class folder, in
    :func:`core.walk.class_folders` order, [images directly in ``root``]).  The one reader of folder-per-class trees: the CLI, project
    creation and evaluation datasets all start here.  Hidden folders are skipped, and so are
    folder links back into the tree (said through ``warn(text)``; stderr when None)."""
    root = Path(root)
    if not root.is_dir():
        raise FewLensError(f"{root}: {'not a folder' if root.exists() else 'folder not found'}")
    from .walk import class_folders

    say = warn or (lambda t: print(f"fewlens: {t}", file=sys.stderr))
    dirs, links = class_folders(root)  # a folder link back into the tree is not a class (issue 14)
    for link in links:
        say(f"not following {link}: a folder link back into {root}")
    classes = {d.name: find_images(d, tree=root) for d in dirs}
    return classes, find_images(root, recursive=False)


def read_class_folders(root: Path, warn=None) -> dict[str, list[Path]]:
    """``root/<class>/**/<image>`` -> {class: [images]}, classes sorted by name; empty folders are skipped.

    Loose images directly in ``root`` are ignored with a warning through ``warn(text)`` (stderr
    when None): examples go in a folder named after their class.
    """
    found, loose = scan_class_folders(root, warn)
    classes = {name: found[name] for name in sorted(found) if found[name]}
    if not classes:
        raise FewLensError(f"{root}: no class subfolders with images (put each class's examples in its own folder)")
    if loose:
        text = (f"ignoring {len(loose)} image(s) directly in {root}: examples go in a folder named "
                "after their class")
        if warn is None:
            print(f"fewlens: {text}", file=sys.stderr)
        else:
            warn(text)
    return classes


def subfolder_names(sources: Sequence[Path]) -> list[str]:
    """Immediate subfolders of dropped folders that hold files (candidate class names)."""
    from .walk import class_folders

    names: list[str] = []
    for src in sources:
        if not src.is_dir():
            continue
        # one unreadable entry (a link loop) costs that entry, not the question
        for d in class_folders(src)[0]:
            if d.name not in names:
                names.append(d.name)
    return names


__all__ = ["read_class_folders", "scan_class_folders", "subfolder_names"]
