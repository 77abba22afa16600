"""The one builder of a :class:`core.recognizer.Recognizer`: from a project or a folder-per-class set.

    rec = build_recognizer(project_or_path, backbone=None, method=None, adapt="auto")
    rec = recognizer_from_rows(method, emb, have, labels, classes, spec, featurizer)  # the app's rows

Steps, as the app does them: embed the labeled images and the unlabeled pool (through the
project's or the user's embedding cache), adapt the backbone's last stage to the labels when the
settings say so (core.adaptation) and re-embed with it, fit the method (core.fitting), pick the
unknown threshold (the project's, or the leave-one-out estimate on the pretrained features).
Both fit with core.fitting and adapt with core.adaptation.adapt_and_embed: the one fit/adapt path
that the GUI (live refit, AdaptJob, Try it, camera, Export) and the CLI share.
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


def export_blocker(method: str, backbone: str) -> str | None:
    """Why a model with this method and backbone cannot be exported (one line), or None: what the
    CLI and File > Export model… check before any embedding, adapting or writing."""
    from .backbones import get_backbone

    try:
        check_method(method)
        spec = get_backbone(backbone)
    except FewLensError as e:
        return str(e)
    if getattr(spec, "builder", None) is None:
        return (f"backbone {backbone} is an ONNX file without a torch module; FewLens can only export "
                "backbones it builds itself (the bundled ones, or ARCH:WEIGHTS)")
    return None


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
                     adapt_settings=None, adapted=None, for_export: bool = False) -> Recognizer:
    """Fit a Recognizer on ``source`` (Project, ``.fewlens`` path, folder-per-class path or LabeledSet).

    Arguments override the project's settings.  ``progress(stage, done, total)``; ``cancel()`` True
    raises Cancelled.  Unreadable files are skipped (appended to ``errors`` as ImageError).
    ``adapt_settings``: a ``core.adaptation.AdaptationSettings`` (default: the measured recipe).
    ``adapted``: an AdaptedBackbone already fitted to these labels (saved with the project, or built
    for another method): used as is instead of adapting again.
    ``for_export``: a method or backbone that cannot be exported fails here, before any work.
    The returned recognizer's ``extra["features"]`` maps every embedded file to the vector the
    method saw (adapted when adapted), so callers predicting the pool need not embed it again.
    """
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
    if for_export:
        from .heads import NotExportable

        reason = export_blocker(method_name, spec.id)
        if reason:
            raise NotExportable(f"cannot export: {reason}")
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
        from .adaptation import adapt_and_embed

        stages = {"adapting": "adapting the backbone", "embedding": "embedding with the adapted backbone"}
        center = frozen_sup if frozen_pool is None else np.concatenate([frozen_sup, frozen_pool])
        a = adapt_and_embed(spec.id, [p for p, _ in support], y, [p for p, _ in support] + pool,
                            center_embeddings=center, settings=adapt_settings, device=embedder.device, cancel=cancel,
                            progress=None if progress is None else lambda st, d, t: progress(stages[st], d, t))
        adapted, adapted_vecs, adapted_errors = a.network, a.embeddings, a.errors
    elif adapted is not None:
        res_a = embed_files([p for p, _ in support] + pool, adapted, cache=None,
                            progress=report("embedding with the adapted backbone"), cancel=cancel)
        adapted_vecs, adapted_errors = res_a.embeddings, res_a.errors
    if adapted is not None:
        if len(adapted_vecs) < len(support) + len(pool):  # changed on disk meanwhile: keep what embeds
            errors.extend(adapted_errors)
            support = [(p, c) for p, c in support if p in adapted_vecs]
            pool = [p for p in pool if p in adapted_vecs]
            y = np.asarray([c for _, c in support], np.int64)
        feats_sup = np.stack([adapted_vecs[p] for p, _ in support])
        feats_pool = np.stack([adapted_vecs[p] for p in pool]) if pool else None
        features = adapted_vecs
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
    provenance = _provenance(spec, method_name, adapted, {c.name: int(n) for c, n in zip(ls.classes, counts)},
                             len(pool), ls.source, fitted)
    contract = InputContract(spec.input_size, spec.resize_size, tuple(spec.mean), tuple(spec.std))
    return Recognizer(list(ls.classes), head, contract, float(threshold), provenance,
                      adapted if adapted is not None else embedder, spec=spec, method=fitted, adapted=adapted,
                      extra={"errors": errors, "features": features, "device_label": embedder.device_label})


def _chosen(fitted) -> dict | None:
    """What ``auto`` chose for these labels (core.evaluation.choice.ModelChoice), for the model's metadata."""
    ch = getattr(fitted, "choice", None) or getattr(getattr(fitted, "method", None), "choice", None)
    if ch is None:
        return None
    return {"method": ch.method, "title": ch.title, "reason": ch.reason, "message": ch.message(),
            "temperature_power": float(ch.temperature_power),
            "heldout_accuracy": {k: float(v) for k, v in ch.scores.items()}, "heldout_labels": int(ch.n_scored)}


def _provenance(spec, method_name: str, adapted, labels_per_class: dict, n_pool: int, source, fitted=None) -> dict:
    import datetime

    from . import __version__

    out = {
        "backbone": {"id": spec.id, "title": spec.title, "license": spec.license, "source": spec.source},
        "method": method_name,
        "adapted": adapted is not None,
        "adapted_fingerprint": adapted.fingerprint if adapted is not None else None,
        "labels_per_class": labels_per_class,
        "unlabeled_pool": n_pool,
        "fewlens_version": __version__,
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": str(source),
    }
    chosen = _chosen(fitted)
    if chosen is not None:
        out["chosen"] = chosen
    return out


def recognizer_from_rows(method_name: str, emb: np.ndarray, have: np.ndarray, labels: np.ndarray, classes,
                         spec, featurizer, *, method_kwargs: dict | None = None, confidence_factor: float = 1.0,
                         threshold: float = 0.0, adapted=None, source=None) -> Recognizer | None:
    """A Recognizer on a row-aligned embedding matrix, as the app holds one (the GUI session's
    model, Try it, the camera, Export): ``labels`` are class ids (UNLABELED for the pool),
    ``classes`` ``[(class id, name, color)]``, ``featurizer`` embeds new images like ``emb`` was
    embedded (the pretrained Embedder, or the adapted network).  The fit is
    :func:`core.fitting.fit_rows`, the gallery's own.  None when nothing is labeled yet.
    A method without an exportable head still predicts; ``extra["not_exportable"]`` says why."""
    from .fitting import UNLABELED, fit_rows
    from .heads import NotExportable, head_from_method

    fitted = fit_rows(method_name, emb, have, labels, method_kwargs, confidence_factor)
    if fitted is None:
        return None
    info = {int(cid): (str(name), str(color)) for cid, name, color in classes}
    ids = [int(c) for c in fitted.classes_]
    rclasses = [RecognizerClass(*info.get(c, ("?", "#888888"))) for c in ids]
    try:
        head, reason = head_from_method(fitted), None
    except NotExportable as e:
        head, reason = None, str(e)
    n = len(labels)
    used = labels[(labels != UNLABELED) & have[:n]]
    counts = {rc.name: int((used == c).sum()) for rc, c in zip(rclasses, ids)}
    n_pool = int(((labels == UNLABELED) & have[:n]).sum())
    contract = InputContract(spec.input_size, spec.resize_size, tuple(spec.mean), tuple(spec.std))
    return Recognizer(rclasses, head, contract, float(threshold),
                      _provenance(spec, method_name, adapted, counts, n_pool, source or "project", fitted),
                      featurizer, spec=spec, method=fitted, adapted=adapted,
                      extra={"class_ids": ids, "not_exportable": reason})


__all__ = ["ADAPT_CHOICES", "DEFAULT_THRESHOLD", "LabeledSet", "build_recognizer", "check_method", "decide_adapt",
           "export_blocker", "labeled_set", "labeled_set_from_folders", "labeled_set_from_project", "recognizer_from_rows"]
