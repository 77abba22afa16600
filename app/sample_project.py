"""The bundled sample project, built on first run into the user's data folder.

``assets/sample/images/<class>/`` holds 6 classes x 12 CC0 photos from
clothing17.  The project file is created outside ``assets/`` (the user's edits
must never touch bundled files); it references the bundled photos in place and
labels the first two photos (by file name) of each class, leaving the rest
unlabeled, so the first screen already shows live predictions.  Embeddings are
computed by the window's normal background job.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import FewLensError
from core.images import file_hash, find_images
from core.paths import assets_dir, data_dir
from core.project import Project

SAMPLE_NAME = "Sample - clothing.fewlens"
LABELED_PER_CLASS = 2


def sample_images_dir() -> Path:
    return assets_dir() / "sample" / "images"


def build_sample_project(path: Path, images_dir: Path | None = None) -> Path:
    """Create the sample project at ``path`` (replacing it)."""
    images_dir = images_dir or sample_images_dir()
    class_dirs = sorted(d for d in images_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise FewLensError(f"{images_dir}: the bundled sample images are missing")
    with Project.create(path, overwrite=True) as project:
        for d in class_dirs:
            files = find_images(d)
            ids = project.add_images([(f, file_hash(f)) for f in files])
            cid = project.add_class(d.name)
            project.set_labels(ids[:LABELED_PER_CLASS], cid)
        project.set_setting("sample", True)
    return path


def ensure_sample_project() -> Path:
    """The sample project's path, building it if it does not exist or cannot be opened."""
    path = data_dir() / SAMPLE_NAME
    if path.exists():
        try:
            Project.open(path).close()
            return path
        except FewLensError:
            pass  # damaged or from another version: rebuild it, it is ours
    return build_sample_project(path)
