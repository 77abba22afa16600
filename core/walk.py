"""Walking user folders without tripping over links.

One bad directory entry must cost one entry: a symbolic link that points at itself raises
``OSError(ELOOP)`` from ``DirEntry.is_file()``, and letting that escape gave up on a whole
folder.  Directory links are followed only when they lead somewhere new: a link back to the
folder itself, to an ancestor, or into the tree already walked (``loop_dir -> .``) would
import every image twice or never end.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path


def entry_is_file(entry: os.DirEntry) -> bool:
    """``entry.is_file()`` that answers False for a link loop or a file gone meanwhile."""
    try:
        return entry.is_file()
    except OSError:
        return False


def entry_is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def link_problem(path: os.PathLike | str) -> str | None:
    """Why ``path`` cannot be read when it is a broken symbolic link, else None."""
    p = os.fspath(path)
    if not os.path.islink(p):
        return None
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop (the link points at itself)"
        return "broken symbolic link (its target does not exist)"
    return None


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except OSError:  # pragma: no cover - realpath only fails on exotic file systems
        return os.path.abspath(path)


def _inside(path: str, roots: set[str]) -> bool:
    for r in roots:
        if path == r or path.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def class_folders(root: os.PathLike | str) -> tuple[list[Path], list[Path]]:
    """Immediate, non-hidden subfolders of ``root`` (candidate classes), sorted by name
    (case-insensitive), and the directory links left out because they point back into
    ``root``'s own tree (or at an ancestor of it)."""
    root_s = os.fspath(root)
    real_root = _real(root_s)
    keep: list[Path] = []
    skipped: list[Path] = []
    try:
        with os.scandir(root_s) as it:
            entries = sorted(it, key=lambda e: e.name.lower())
    except OSError:
        return [], []
    seen: set[str] = set()
    for e in entries:
        if e.name.startswith(".") or not entry_is_dir(e):
            continue
        if e.is_symlink():
            target = _real(e.path)
            if _inside(target, {real_root}) or _inside(real_root, {target}) or target in seen:
                skipped.append(Path(e.path))
                continue
            seen.add(target)
        else:
            seen.add(_real(e.path))
        keep.append(Path(e.path))
    return keep, skipped


def walk_files(root: os.PathLike | str, skip_hidden: bool = True, tree: os.PathLike | str | None = None) -> Iterator[Path]:
    """Every file under ``root`` (recursively, sorted per folder).  Directory links are
    followed once each, unless they lead back into a folder already walked or being walked
    (loops, ``loop_dir -> .``, a link to a sibling class); unreadable folders are skipped.
    Broken links and other non-folders (pipes) are listed too: reading them names the problem.
    ``tree``: a folder ``root`` is part of (a class folder's parent): links into it are not
    followed either, since that tree is walked on its own."""
    root_s = os.fspath(root)
    visited: set[str] = set()  # real paths of the folders walked so far
    fenced = {_real(os.fspath(tree))} if tree is not None else set()

    def walk(d: str) -> Iterator[Path]:
        real = _real(d)
        if real in visited:
            return
        visited.add(real)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        subdirs = []
        for e in entries:
            if skip_hidden and e.name.startswith("."):
                continue
            if entry_is_dir(e):
                subdirs.append(e)
            else:  # files, and broken links / pipes too: reading them names the problem
                yield Path(e.path)
        for e in subdirs:
            # a link into the tree walked so far (root included) would repeat it, or loop
            if e.is_symlink():
                t = _real(e.path)
                if _inside(t, visited | fenced) or any(_inside(v, {t}) for v in visited):
                    continue  # into the tree, or to a folder holding it (an endless loop)
            yield from walk(e.path)

    yield from walk(root_s)


__all__ = ["class_folders", "entry_is_dir", "entry_is_file", "link_problem", "walk_files"]
