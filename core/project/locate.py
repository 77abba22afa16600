"""Where a project's files are: stored paths relative to the project folder, which files exist,
where a new project file may go, and the search that re-links moved images by content hash."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import Cancelled, ProjectError
from ..walk import entry_is_file
from .records import ImageRecord

def norm_abs(path: os.PathLike | str) -> str:
    """Absolute, normalized path string (symlinks kept: the user's view of the file)."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def to_stored(abs_path: str, folder: str) -> str:
    """Relative POSIX path when ``abs_path`` is under ``folder``, else the absolute path."""
    try:
        if os.path.commonpath([abs_path, folder]) == folder:
            return Path(os.path.relpath(abs_path, folder)).as_posix()
    except ValueError:  # different drives on Windows
        pass
    return abs_path


def from_stored(stored: str, folder: str) -> str:
    if os.path.isabs(stored):
        return stored
    return os.path.normpath(os.path.join(folder, *stored.split("/")))


def resolver(folder: str) -> Callable[[str], str]:
    """Fast ``_from_stored`` for bulk listing: a relative stored path is already normalized
    (it was made by relpath under ``folder``), so joining is a string concatenation."""
    prefix = folder.rstrip(os.sep) + os.sep
    if os.sep == "/":
        return lambda s: s if s.startswith("/") else prefix + s
    return lambda s: s if os.path.isabs(s) else prefix + s.replace("/", os.sep)


def existing_files(abs_paths: Iterable[str]) -> set[str]:
    """Which of ``abs_paths`` exist as files.  A folder holding many of them is listed once
    (a 100k-image project costs one directory scan per folder, not one stat per file); a
    folder holding only a few is stat'ed file by file."""
    by_dir: dict[str, list[tuple[str, str]]] = defaultdict(list)
    sep = os.sep
    for p in abs_paths:
        d, _, name = p.rpartition(sep)
        if not d or d.endswith(":"):  # the root ("/x.jpg", "C:\\x.jpg") keeps its separator
            d += sep
        by_dir[d].append((p, name))
    found: set[str] = set()
    for d, entries in by_dir.items():
        if len(entries) < 16:  # a few files in a possibly huge folder: stat them instead
            found.update(p for p, _ in entries if os.path.isfile(p))
            continue
        try:
            with os.scandir(d) as it:
                names = {e.name for e in it if entry_is_file(e)}  # a link loop costs that entry only
        except OSError:
            continue
        found.update(p for p, name in entries if name in names)
    return found


def unlink_quietly(path: str) -> None:
    for p in (path, path + "-wal", path + "-shm", path + "-journal") if path else ():
        try:
            os.unlink(p)
        except OSError:
            pass


def check_destination(path: Path, overwrite: bool) -> None:
    """A new project file may go at ``path`` (create / Save As)."""
    p = os.fspath(path)
    if path.is_dir():
        raise ProjectError(p, "is a folder; choose a file name for the project")
    if path.exists() and not overwrite:
        raise ProjectError(p, "already exists")
    if not path.parent.is_dir():
        raise ProjectError(p, "the folder for the project does not exist")


def move_into_place(tmp: str, dest: str) -> None:
    """Rename a finished project file over ``dest``, first removing WAL/SHM files left by an
    old file at that name (they would be replayed into the new one)."""
    for suffix in ("-wal", "-shm"):
        if os.path.exists(dest + suffix):
            os.unlink(dest + suffix)
    os.replace(tmp, dest)


def locate_missing(
    project,
    folder: os.PathLike | str,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> int:
    """Re-link missing images to files under ``folder`` with the same content hash.
    Only files whose size matches a missing image are hashed; among equal-content
    candidates the one with the same file name wins.  Returns how many were re-linked.
    ``progress(done, total)`` reports hashing; ``cancel()`` returning True raises
    ``Cancelled`` and re-links nothing."""
    from ..images import IMAGE_EXTENSIONS, file_hash  # lazy: core.images pulls in PIL

    missing = project.missing_images()
    if not missing:
        return 0
    con = project._conn()
    sizes: dict[int, int | None] = dict(
        con.execute(f"SELECT id, size FROM images WHERE id IN ({','.join(str(r.id) for r in missing)})")
    )
    want_sizes = {s for s in sizes.values() if s is not None}
    any_size = any(s is None for s in sizes.values())  # legacy rows without a size
    by_hash: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in missing:
        by_hash[r.hash].append(r)

    candidates: list[str] = []
    for root, dirs, files in os.walk(os.fspath(folder)):
        if cancel is not None and cancel():
            raise Cancelled()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            fp = os.path.join(root, name)
            try:
                size = os.stat(fp).st_size
            except OSError:
                continue
            if any_size or size in want_sizes:
                candidates.append(norm_abs(fp))
    in_project = {r.file for r in project.images(check_missing=False)}
    candidates = [c for c in candidates if c not in in_project]

    matches: dict[str, list[str]] = defaultdict(list)  # hash -> candidate paths
    for i, fp in enumerate(candidates):
        if cancel is not None and cancel():
            raise Cancelled()
        try:
            h = file_hash(fp)
        except Exception:  # unreadable candidate: just not a match
            continue
        if h in by_hash:
            matches[h].append(fp)
        if progress:
            progress(i + 1, len(candidates))

    updates: list[tuple[str, int, int]] = []
    for h, recs in by_hash.items():
        pool = matches.get(h, [])
        for rec in sorted(recs, key=lambda r: r.id):
            if not pool:
                break
            same_name = [c for c in pool if os.path.basename(c) == rec.path.name]
            pick = same_name[0] if same_name else pool[0]
            pool.remove(pick)
            updates.append((to_stored(pick, project.folder), os.stat(pick).st_size, rec.id))
    if updates:
        with project._write() as con:
            con.executemany("UPDATE images SET path = ?, size = ? WHERE id = ?", updates)
    return len(updates)
