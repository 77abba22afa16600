"""The one builder of a :class:`core.recognizer.Recognizer`: from a project or a folder-per-class set.

    rec = build_recognizer(project_or_path, backbone=None, method=None, adapt="auto")

Steps, as the app does them: embed the labeled images and the unlabeled pool (through the
project's or the user's embedding cache), adapt the backbone's last stage to the labels when the
settings say so (core.adaptation) and re-embed with it, fit the method (core.fitting), pick the
unknown threshold (the project's, or the leave-one-out estimate on the pretrained features).
Bad input -- fewer than two classes, a class without labels, a method without an exportable
head -- is a one-line :class:`FewLensError` before any work; the project is only read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import Cancelled, FewLensError, ImageError
from .recognizer import InputContract, Recognizer, RecognizerClass

ADAPT_CHOICES = ("auto", "on", "off")
#: the project's "unknown" threshold when it has none (app/session.py shows the same default)
DEFAULT_THRESHOLD = 0.2


@dataclass
class LabeledSet:
    """What a recognizer is built from: classes in column order, labeled files, an unlabeled pool."""

    source: Path  # named in messages
    classes: list[RecognizerClass]
    support: list[tuple[Path, int]]  # (file, column)
    pool: list[Path] = field(default_factory=list)
    backbone: str | None = None
    method: str | None = None
    threshold: float | None = None  # None: estimate from the labels
    adapt: str = "auto"
    cache: object = None  # embedding cache (project's, or None for the user cache)
    min_classes: int = 2  # `fewlens predict --support` allows one, with a warning (issue 14)

    def check(self) -> None:
        if len(self.classes) < self.min_classes:
            raise FewLensError(f"{self.source}: a recognizer needs at least two classes "
                               f"(this has {len(self.classes)})")
        counts = np.bincount([c for _, c in self.support], minlength=len(self.classes))
        empty = [self.classes[i].name for i in np.flatnonzero(counts == 0)]
        if empty:
            raise FewLensError(f"{self.source}: class {empty[0]!r} has no labeled images"
                               f"{f' (nor {len(empty) - 1} more)' if len(empty) > 1 else ''}; "
                               "label at least one image of every class, or delete the class")


def labeled_set_from_project(project) -> LabeledSet:
    from .project import SETTING_BACKBONE, SETTING_METHOD, SETTING_THRESHOLD

    classes = project.classes()
    col = {c.id: i for i, c in enumerate(classes)}
    support, pool = [], []
    for r in project.images():
        if r.missing:
            continue
        if r.class_id is None:
            pool.append(r.path)
        elif r.class_id in col:
            support.append((r.path, col[r.class_id]))
    auto = bool(project.get_setting("unknown_threshold_auto", True))
    threshold = None if auto else float(project.get_setting(SETTING_THRESHOLD, DEFAULT_THRESHOLD))
    return LabeledSet(Path(project.path), [RecognizerClass(c.name, c.color) for c in classes], support, pool,
                      project.get_setting(SETTING_BACKBONE), project.get_setting(SETTING_METHOD), threshold,
                      "auto" if project.get_setting("adapt_backbone", True) else "off", project.embedding_cache)


def labeled_set_from_folders(root: Path, warn=None) -> LabeledSet:
    from .class_folders import read_class_folders
    from .palette import PALETTE

    folders = read_class_folders(root, warn)
    classes = [RecognizerClass(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(folders)]
    support = [(p, i) for i, files in enumerate(folders.values()) for p in files]
    return LabeledSet(Path(root), classes, support)


def labeled_set(source) -> LabeledSet:
    """A Project, a ``.fewlens`` path or a folder-per-class path."""
    if isinstance(source, LabeledSet):
        return source
    if hasattr(source, "classes") and hasattr(source, "images"):
        return labeled_set_from_project(source)
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        return labeled_set_from_folders(path)
    from .project import Project

    with Project.open(path) as proj:
        return labeled_set_from_project(proj)


def decide_adapt(choice: str, backbone: str, counts: np.ndarray) -> bool:
    """Whether ``--adapt CHOICE`` adapts; 'on' with a backbone that cannot adapt is an error."""
    from .adaptation import MIN_SHOTS, can_adapt, why_not_adaptable

    if choice not in ADAPT_CHOICES:
        raise FewLensError(f"adapt must be one of {', '.join(ADAPT_CHOICES)}, not {choice!r}")
    if choice == "off":
        return False
    if not can_adapt(backbone):
        if choice == "on":
            raise FewLensError(f"--adapt on: {why_not_adaptable(backbone)}")
        return False
    return choice == "on" or (len(counts) >= 2 and int(counts.min()) >= MIN_SHOTS)


def check_method(name: str) -> None:
    """Unknown or head-less methods fail here, before any embedding or adapting."""
    from .heads import NotExportable
    from .methods import IMAGE_LEVEL_METHODS, METHODS, method_names

    if name not in METHODS:
        raise FewLensError(f"unknown method {name!r}; choose from: {', '.join(method_names(True))}")
    if name in IMAGE_LEVEL_METHODS:
        raise NotExportable(f"method {name!r} fine-tunes the backbone inside the method and has no exportable head; "
                            f"choose from: {', '.join(method_names(True))}")


Progress = Callable[[str, int, int], None]


def build_recognizer(source, **kwargs) -> Recognizer:
    """Fit a Recognizer on ``source``: see :func:`_build` for the arguments.  A ``.fewlens`` path is
    opened (and its embedding cache used) for the duration of the build."""
    if isinstance(source, (str, os.PathLike)) and not Path(os.fspath(source)).expanduser().is_dir():
        from .project import Project

        with Project.open(Path(os.fspath(source)).expanduser()) as proj:
            return _build(proj, **kwargs)
    return _build(source, **kwargs)


def _build(source, *, backbone: str | None = None, method: str | None = None, adapt: str | None = None,
                     threshold: float | None = None, device: str = "cpu", progress: Progress | None = None,
                     cancel: Callable[[], bool] | None = None, errors: list | None = None,
                     adapt_settings=None, adapted=None) -> Recognizer:
    """Fit a Recognizer on ``source`` (Project, ``.fewlens`` path, folder-per-class path or LabeledSet).

    Arguments override the project's settings.  ``progress(stage, done, total)``; ``cancel()`` True
    raises Cancelled.  Unreadable files are skipped (appended to ``errors`` as ImageError).
    ``adapt_settings``: a ``core.adaptation.AdaptationSettings`` (default: the measured recipe).
    ``adapted``: an AdaptedBackbone already fitted to these labels (saved with the project, or built
    for another method): used as is instead of adapting again.
    The returned recognizer's ``extra["features"]`` maps every embedded file to the vector the
    method saw (adapted when adapted), so callers predicting the pool need not embed it again.
    """
    from . import __version__
    from .backbones import DEFAULT_BACKBONE, get_backbone
    from .embedder import Embedder
    from .fitting import auto_unknown_threshold, fit_on_support
    from .heads import head_from_method
    from .methods import DEFAULT_METHOD
    from .pipeline import embed_files

    ls = labeled_set(source)
    ls.check()
    method_name = method or ls.method or DEFAULT_METHOD
    check_method(method_name)
    spec = get_backbone(backbone or ls.backbone or DEFAULT_BACKBONE)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise FewLensError(f"threshold must be between 0 and 1, not {threshold}")
    errors = errors if errors is not None else []

    def report(stage: str):
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    embedder = Embedder(spec, device=device)
    sup_paths = [p for p, _ in ls.support]
    seen = set(sup_paths)
    paths = sup_paths + [p for p in dict.fromkeys(ls.pool) if p not in seen]
    if ls.cache is not None:
        res = embed_files(paths, embedder, cache=ls.cache, progress=report("embedding"), cancel=cancel)
    else:
        from .embedding_cache import EmbeddingCache

        with EmbeddingCache.default() as cache:
            res = embed_files(paths, embedder, cache=cache, progress=report("embedding"), cancel=cancel)
    errors.extend(res.errors)
    support = [(p, c) for p, c in ls.support if p in res.embeddings]
    pool = [p for p in paths[len(sup_paths):] if p in res.embeddings]
    y = np.asarray([c for _, c in support], np.int64)
    counts = np.bincount(y, minlength=len(ls.classes))
    if (counts == 0).any():
        bad = ls.classes[int(np.flatnonzero(counts == 0)[0])].name
        if (ls.source / bad).is_dir():  # a folder-per-class set: name the class's folder
            raise ImageError(ls.source / bad, "no readable example images for this class")
        raise ImageError(ls.source, f"class {bad!r}: none of its labeled images can be read")
    frozen_sup = res.matrix([p for p, _ in support])
    frozen_pool = res.matrix(pool) if pool else None

    if adapted is not None and adapted.spec.id != spec.id:
        raise FewLensError(f"the adapted backbone was made from {adapted.spec.id}, not {spec.id}")
    if adapted is None and decide_adapt(adapt or ls.adapt, spec.id, counts):
        from .adaptation import AdaptationSettings, adapt_backbone
        from .images import load_image

        images = [load_image(p, min_side=spec.resize_size) for p, _ in support]
        center = frozen_sup if frozen_pool is None else np.concatenate([frozen_sup, frozen_pool])
        adapted = adapt_backbone(spec.id, images, y, center_embeddings=center,
                                 settings=adapt_settings or AdaptationSettings(), device=embedder.device,
                                 progress=report("adapting the backbone"), cancel=cancel)
    if adapted is not None:
        res_a = embed_files([p for p, _ in support] + pool, adapted, cache=None,
                            progress=report("embedding with the adapted backbone"), cancel=cancel)
        if len(res_a.embeddings) < len(support) + len(pool):  # changed on disk meanwhile: keep what embeds
            errors.extend(res_a.errors)
            support = [(p, c) for p, c in support if p in res_a.embeddings]
            pool = [p for p in pool if p in res_a.embeddings]
            y = np.asarray([c for _, c in support], np.int64)
        feats_sup = res_a.matrix([p for p, _ in support])
        feats_pool = res_a.matrix(pool) if pool else None
        features = res_a.embeddings
    else:
        feats_sup, feats_pool = frozen_sup, frozen_pool
        features = res.embeddings
    if cancel is not None and cancel():
        raise Cancelled("cancelled")

    from .adaptation import adapted_method_kwargs

    kwargs = adapted_method_kwargs(method_name) if adapted is not None else {}
    fitted = fit_on_support(method_name, feats_sup, y, feats_pool, kwargs)
    head = head_from_method(fitted)
    if threshold is None:
        threshold = ls.threshold
    if threshold is None:
        # estimated on the pretrained features, as the app does (adapted ones are overconfident on the labels)
        est = auto_unknown_threshold(method_name, frozen_sup, np.ones(len(y), bool), y)
        threshold = float(est) if est is not None else 0.0
    counts = np.bincount(y, minlength=len(ls.classes))
    import datetime

    provenance = {
        "backbone": {"id": spec.id, "title": spec.title, "license": spec.license, "source": spec.source},
        "method": method_name,
        "adapted": adapted is not None,
        "adapted_fingerprint": adapted.fingerprint if adapted is not None else None,
        "labels_per_class": {c.name: int(n) for c, n in zip(ls.classes, counts)},
        "unlabeled_pool": len(pool),
        "fewlens_version": __version__,
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": str(ls.source),
    }
    contract = InputContract(spec.input_size, spec.resize_size, tuple(spec.mean), tuple(spec.std))
    return Recognizer(list(ls.classes), head, contract, float(threshold), provenance,
                      adapted if adapted is not None else embedder, spec=spec, method=fitted, adapted=adapted,
                      extra={"errors": errors, "features": features, "device_label": embedder.device_label})


__all__ = ["ADAPT_CHOICES", "DEFAULT_THRESHOLD", "LabeledSet", "build_recognizer", "check_method", "decide_adapt",
           "labeled_set", "labeled_set_from_folders", "labeled_set_from_project"]
