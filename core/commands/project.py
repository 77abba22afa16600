"""``fewlens project``: build and inspect project files without the GUI.

    fewlens project create my.fewlens --from photos/ [--backbone B] [--method M] [--embed]
    fewlens project info my.fewlens [--json]
    fewlens project locate my.fewlens --in moved_photos/
    fewlens project recover damaged.fewlens salvaged.fewlens
    fewlens project evaluate my.fewlens [--json]     (core/commands/project_evaluate.py)

``create``: every subfolder of ``photos/`` becomes a class and its images (recursively) are
labeled with it; images directly in ``photos/`` are added unlabeled.  ``--embed`` also
computes the embeddings now, so the GUI opens with predictions ready.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import FewLensError, ImageError, ProjectError
from .shared import embed_into_project


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "project",
        help="create, inspect or re-link a project file",
        description="Create a FewLens project from a folder, show what a project holds, or re-link moved images.",
    )
    sub = p.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    c = sub.add_parser(
        "create",
        help="build a project from a folder (subfolders become labeled classes)",
        description="Build a project from DIR: each subfolder is a class whose images are labeled with it; "
        "images directly in DIR are added unlabeled.",
    )
    c.add_argument("path", type=Path, metavar="PATH", help="project file to write (.fewlens is added if no suffix)")
    c.add_argument("--from", dest="source", required=True, type=Path, metavar="DIR", help="folder of images")
    c.add_argument("--backbone", default=None, help="feature extractor stored in the project (default: the app's)")
    c.add_argument("--method", default=None, help="few-shot method stored in the project (default: the app's)")
    c.add_argument("--threshold", type=float, default=None, metavar="T", help="unknown threshold (0-1) stored in the project")
    c.add_argument("--embed", action="store_true", help="compute embeddings now (otherwise the GUI does on open)")
    c.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="for --embed")
    c.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    c.set_defaults(func=run_create)

    i = sub.add_parser("info", help="print what a project holds", description="Print counts, classes and settings.")
    i.add_argument("path", type=Path, metavar="PATH")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=run_info)

    rec = sub.add_parser(
        "recover",
        help="copy every readable row of a damaged project into a new file",
        description="Salvage a damaged project: every readable class, image, label, setting and embedding "
        "is copied into OUT (like SQLite's .recover); the damaged file is only read.",
    )
    rec.add_argument("path", type=Path, metavar="PATH", help="the damaged project")
    rec.add_argument("out", type=Path, metavar="OUT", help="new project file for what is readable")
    rec.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    rec.set_defaults(func=run_recover)

    loc = sub.add_parser(
        "locate",
        help="re-link missing images by content",
        description="Search DIR for files with the same content as the project's missing images and re-link them.",
    )
    loc.add_argument("path", type=Path, metavar="PATH")
    loc.add_argument("--in", dest="folder", required=True, type=Path, metavar="DIR", help="where the images are now")
    loc.set_defaults(func=run_locate)

    from .project_evaluate import add_parser as add_evaluate

    add_evaluate(sub)
    from .project_labels import register_labels  # export-labels / import-labels (core.labels_io)

    register_labels(sub)


# ---------------------------------------------------------------------------------------------


def scan_folder(root: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """``root/<class>/**/<image>`` -> ({class: [images]}, [unlabeled images directly in root])
    (core.class_folders).  Subfolders without images give no class."""
    from ..class_folders import scan_class_folders

    found, loose = scan_class_folders(root)
    classes = {name: files for name, files in found.items() if files}
    if not classes and not loose:
        raise FewLensError(f"{root}: no images found")
    return classes, loose


def _hash_all(paths: list[Path]) -> tuple[dict[Path, str], list[ImageError]]:
    """Content hashes, in a small thread pool (hashlib releases the GIL), with a progress bar."""
    from tqdm import tqdm

    from ..images import file_hash

    def one(p: Path):
        try:
            return p, file_hash(p), None
        except ImageError as e:
            return p, None, e

    hashes: dict[Path, str] = {}
    errors: list[ImageError] = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool, tqdm(
        total=len(paths), desc="reading", unit="img", file=sys.stderr, disable=None, leave=False
    ) as bar:
        for p, h, err in pool.map(one, paths):
            if err is not None:
                errors.append(err)
            else:
                hashes[p] = h
            bar.update()
    return hashes, errors


def _validate_choices(args: argparse.Namespace) -> None:
    if args.backbone is not None:
        from ..backbones import get_backbone

        get_backbone(args.backbone)  # FewLensError listing the choices if unknown
    if args.method is not None:
        from ..methods import method_names

        if args.method not in method_names():
            raise FewLensError(f"unknown method {args.method!r}; choose from: {', '.join(method_names())}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise FewLensError(f"--threshold must be between 0 and 1, not {args.threshold}")


def run_create(args: argparse.Namespace) -> int:
    from ..project import PROJECT_SUFFIX, SETTING_BACKBONE, SETTING_METHOD, SETTING_THRESHOLD, Project
    from ..recent import add_recent

    path: Path = args.path if args.path.suffix else args.path.with_suffix(PROJECT_SUFFIX)
    _validate_choices(args)
    classes, loose = scan_folder(args.source)
    all_paths = [p for files in classes.values() for p in files] + loose
    hashes, errors = _hash_all(all_paths)
    for err in errors:
        print(f"fewlens: skipped {err}", file=sys.stderr)

    if path.exists() and not args.force:
        raise ProjectError(path, "already exists (use --force to overwrite)")
    with Project.create(path, overwrite=args.force) as proj:
        readable = [p for p in all_paths if p in hashes]
        ids = dict(zip(readable, proj.add_images([(p, hashes[p]) for p in readable])))
        for name, files in classes.items():
            cid = proj.add_class(name)
            proj.set_labels([ids[p] for p in files if p in ids], cid)
        if args.backbone is not None:
            proj.set_setting(SETTING_BACKBONE, get_backbone_id(args.backbone))
        if args.method is not None:
            proj.set_setting(SETTING_METHOD, args.method)
        if args.threshold is not None:
            proj.set_setting(SETTING_THRESHOLD, args.threshold)
        if args.embed:
            errors += embed_into_project(proj, list(ids), args.backbone, args.device)
        counts = proj.counts()
        summary = ", ".join(f"{c.name} {c.count}" for c in proj.classes())
    add_recent(path)
    print(f"created {path}: {counts.images} images, {counts.classes} classes ({summary}), {counts.unlabeled} unlabeled")
    return 1 if errors else 0


def get_backbone_id(backbone: str) -> str:
    from ..backbones import get_backbone

    return get_backbone(backbone).id


def project_summary(proj) -> dict:
    """Everything ``info`` prints, as plain data."""
    images = proj.images()
    counts = proj.counts()
    meta = proj.meta()
    return {
        "path": str(proj.path),
        "format": int(meta.get("schema_version", 0)),
        "app_version": meta.get("app_version"),
        "images": counts.images,
        "labeled": counts.labeled,
        "unlabeled": counts.unlabeled,
        "missing": sum(r.missing for r in images),
        "classes": [{"name": c.name, "color": c.color, "images": c.count} for c in proj.classes()],
        "settings": proj.settings(),
        "embeddings": proj.embedding_cache.backbones(),
    }


def run_info(args: argparse.Namespace) -> int:
    from ..project import Project

    with Project.open_any(args.path) as proj:  # a read-only file can still be inspected
        s = project_summary(proj)
        s["read_only"] = proj.read_only
    if args.json:
        json.dump(s, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    ro = ", read-only" if s["read_only"] else ""
    out.write(f"{s['path']}  (project format {s['format']}, FewLens {s['app_version']}{ro})\n")
    out.write(f"images     {s['images']}  ({s['labeled']} labeled, {s['unlabeled']} unlabeled, {s['missing']} missing)\n")
    out.write(f"classes    {len(s['classes'])}\n")
    width = max([len(c["name"]) for c in s["classes"]] + [4])
    for c in s["classes"]:
        out.write(f"  {c['name']:<{width}}  {c['images']:>6}  {c['color']}\n")
    for k, v in sorted(s["settings"].items()):
        out.write(f"setting    {k} = {json.dumps(v)}\n")
    for b, n in sorted(s["embeddings"].items()):
        out.write(f"embeddings {b}: {n}\n")
    return 0


def run_recover(args: argparse.Namespace) -> int:
    from ..project import PROJECT_SUFFIX
    from ..project.repair import recover_project

    out: Path = args.out if args.out.suffix else args.out.with_suffix(PROJECT_SUFFIX)
    report = recover_project(args.path, out, overwrite=args.force)
    print(f"recovered {args.path} into {out}: {report.summary()}")
    return 0


def run_locate(args: argparse.Namespace) -> int:
    from ..project import Project

    if not args.folder.is_dir():
        raise FewLensError(f"{args.folder}: {'not a folder' if args.folder.exists() else 'folder not found'}")
    with Project.open(args.path) as proj:
        before = len(proj.missing_images())
        found = proj.locate(args.folder)
    print(f"re-linked {found} of {before} missing images")
    return 0 if found == before else 1
