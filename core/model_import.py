"""An exported FewLens model as a new project's starting model (re-import).

    project_from_model("model.onnx", "new.fewlens")   # classes, colors, method, threshold, head
    starting_recognizer(project)                      # the model's Recognizer, until labels replace it

The project keeps the model's head (setting ``starting_model``: its metadata and the head's bytes) and,
for a frozen backbone, the backbone as its own, so the images you add are embedded in the space the
head was fitted in and get the model's predictions before you label anything.  A model made with an
adapted backbone predicts through its own file (which must stay where it was).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from .errors import ModelFileError
from .heads import Head
from .recognizer import Recognizer, RecognizerClass, read_exported

SETTING_STARTING_MODEL = "starting_model"


def project_from_model(model: os.PathLike | str, project_path: os.PathLike | str, overwrite: bool = False) -> Path:
    """Create ``project_path`` from an exported model; a foreign or corrupt file raises ModelFileError."""
    from .project import SETTING_BACKBONE, SETTING_METHOD, SETTING_THRESHOLD, Project

    model = Path(model).expanduser().resolve()
    if not model.is_file():
        raise ModelFileError(model, "file not found")
    meta, head_b64, _ = read_exported(model)
    Head.from_bytes(base64.b64decode(head_b64))  # a damaged head fails here, before a project is made
    backbone = meta.get("backbone", {}).get("id")
    with Project.create(project_path, overwrite=overwrite) as proj:
        for c in meta["classes"]:
            proj.add_class(str(c["name"]), c.get("color"))
        if backbone:
            proj.set_setting(SETTING_BACKBONE, backbone)
        if meta.get("method"):
            proj.set_setting(SETTING_METHOD, meta["method"])
        proj.set_setting(SETTING_THRESHOLD, float(meta.get("unknown_threshold", 0.0)))
        proj.set_setting("unknown_threshold_auto", False)
        proj.set_setting(SETTING_STARTING_MODEL, {"file": str(model), "metadata": meta, "head": head_b64})
        return Path(proj.path)


def starting_recognizer(project) -> Recognizer | None:
    """The project's starting model as a Recognizer (columns = the model's classes), or None."""
    start = project.get_setting(SETTING_STARTING_MODEL)
    if not start:
        return None
    meta = start["metadata"]
    file = Path(start["file"])
    if meta.get("adapted") or not _backbone_known(meta):
        if not file.is_file():
            raise ModelFileError(file, "the project's starting model was made with an adapted backbone and its "
                                       "file is gone; label images to fit a new model")
        return Recognizer.load(file)
    from .backbones import get_backbone
    from .embedder import Embedder
    from .recognizer import InputContract

    spec = get_backbone(meta["backbone"]["id"])
    head = Head.from_bytes(base64.b64decode(start["head"]))
    contract = InputContract(spec.input_size, spec.resize_size, tuple(spec.mean), tuple(spec.std))
    classes = [RecognizerClass(c["name"], c.get("color", "#888888")) for c in meta["classes"]]
    prov = {"method": meta.get("method", head.method), "backbone": meta["backbone"], "adapted": False,
            "labels_per_class": meta.get("labels_per_class", {}), "fewlens_version": meta.get("fewlens_version"),
            "source": str(file)}
    return Recognizer(classes, head, contract, float(meta.get("unknown_threshold", 0.0)), prov,
                      Embedder(spec, device="cpu"), spec=spec)


def _backbone_known(meta: dict) -> bool:
    try:
        from .backbones import get_backbone

        get_backbone(meta["backbone"]["id"])
        return True
    except Exception:
        return False


__all__ = ["SETTING_STARTING_MODEL", "project_from_model", "starting_recognizer"]
