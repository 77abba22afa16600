"""Folder-per-class support sets: ``root/<class>/**/<image>`` -> {class: [images]}."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import FewLensError
from .images import find_images


def read_class_folders(root: Path, warn=None) -> dict[str, list[Path]]:
    """``root/<class>/**/<image>`` -> {class: [images]}, classes sorted by name; empty folders are skipped.

    Loose images directly in ``root`` are ignored with a warning through ``warn(text)`` (stderr
    when None): examples go in a folder named after their class.
    """
    root = Path(root)
    if not root.is_dir():
        raise FewLensError(f"{root}: {'not a folder' if root.exists() else 'folder not found'}")
    from .walk import class_folders

    say = warn or (lambda t: print(f"fewlens: {t}", file=sys.stderr))
    dirs, links = class_folders(root)  # a folder link back into the tree is not a class (issue 14)
    for link in links:
        say(f"not following {link}: a folder link back into {root}")
    classes = {}
    for d in sorted(dirs, key=lambda x: x.name):
        files = find_images(d, tree=root)
        if files:
            classes[d.name] = files
    if not classes:
        raise FewLensError(f"{root}: no class subfolders with images (put each class's examples in its own folder)")
    loose = find_images(root, recursive=False)
    if loose:
        text = (f"ignoring {len(loose)} image(s) directly in {root}: examples go in a folder named "
                "after their class")
        if warn is None:
            print(f"fewlens: {text}", file=sys.stderr)
        else:
            warn(text)
    return classes


__all__ = ["read_class_folders"]
