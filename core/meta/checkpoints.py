"""Meta-training checkpoints: save / load / validate, slim exports, bundled Omniglot backbones.

A checkpoint is a ``torch.save`` dict read back with ``weights_only=True`` (no code runs on load):

    format "fewlens-meta", version, config (plain dict: learner + training settings),
    model (state_dict), best_model (state_dict of the best validation score, optional),
    optimizer / scheduler states, episode (optimizer steps done), rng (torch + numpy states),
    history (list of progress dicts), best ({"episode", "val_acc"}).

A *slim* checkpoint (what ships in ``assets/models/omniglot/``) keeps config + model only.
Anything else that is not such a file raises :class:`core.errors.ModelFileError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

from ..errors import ModelFileError
from ..paths import assets_dir

FORMAT = "fewlens-meta"
VERSION = 1
OMNIGLOT_DIR = "models/omniglot"


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written checkpoint."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as e:
        raise ModelFileError(path, f"not a readable FewLens checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from e
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ModelFileError(path, "not a FewLens meta-learning checkpoint (missing its format tag)")
    if int(ck.get("version", 0)) > VERSION:
        raise ModelFileError(path, f"checkpoint version {ck.get('version')} is newer than this FewLens reads ({VERSION})")
    for key in ("config", "model"):
        if key not in ck:
            raise ModelFileError(path, f"checkpoint has no {key!r} entry")
    return ck


def load_learner(path: str | os.PathLike, best: bool = True):
    """Rebuild the episodic learner stored in a checkpoint, in eval mode. Returns (learner, config)."""
    from .learners import build_learner

    ck = load_checkpoint(path)
    cfg = dict(ck["config"])
    learner = build_learner(cfg)
    state = ck.get("best_model") if best and ck.get("best_model") else ck["model"]
    try:
        learner.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(path, f"weights do not fit the {cfg.get('method')} / {cfg.get('backbone')} model ({str(e).splitlines()[0][:120]})") from e
    learner.eval()
    return learner, cfg


def export_slim(src: str | os.PathLike, dest: str | os.PathLike, best: bool = True, note: dict | None = None,
                half: bool = False) -> Path:
    """Keep config + (best) weights only: the small file that ships in assets/.  ``half`` stores the
    float tensors as float16 (half the bytes; loading casts them back to float32), which keeps a
    Conv-4 with a relation module under 0.5 MB."""
    ck = load_checkpoint(src)
    model = ck.get("best_model") if best and ck.get("best_model") else ck["model"]
    if half:
        model = {k: v.half() if v.is_floating_point() else v for k, v in model.items()}
    cfg = dict(ck["config"])
    meta = {"trained_episodes": int(ck.get("episode", 0)), "best": ck.get("best") or {}}
    if half:
        meta["stored_dtype"] = "float16"
    if note:
        meta.update(note)
    cfg["export"] = json.dumps(meta)
    out = save_checkpoint({"config": cfg, "model": model}, dest)
    write_config_sidecar(out, cfg)
    return out


def config_sidecar(path: str | os.PathLike) -> Path:
    """``model.pt`` -> ``model.json``: the checkpoint's config, readable without torch."""
    return Path(path).with_suffix(".json")


def _file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_config_sidecar(path: str | os.PathLike, cfg: dict) -> Path:
    side = config_sidecar(path)
    tmp = side.with_name(side.name + ".tmp")
    doc = {"checkpoint_sha256": _file_sha256(path), "config": cfg}
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, side)
    return side


def record_measurement(path: str | os.PathLike, measured: dict, key: str = "measured") -> Path:
    """Store a measured score (``fewlens omniglot-lake --record``) in the checkpoint's sidecar,
    tied to the checkpoint's hash: re-exporting the weights drops it (see :func:`measured_quality`).
    ``key``: ``measured_ensemble`` holds an ensemble's score led by this model, apart from its own."""
    side = config_sidecar(path)
    try:
        doc = json.loads(side.read_text())
    except (OSError, ValueError):
        doc = {}
    sha = _file_sha256(path)
    if doc.get("checkpoint_sha256") != sha or "config" not in doc:
        doc = {"checkpoint_sha256": sha, "config": load_checkpoint(path)["config"]}
    doc[key] = measured
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, side)
    return side


def measured_quality(path: str | os.PathLike) -> dict | None:
    """The score recorded in a checkpoint's sidecar, or None (none recorded, or recorded for other
    weights).  JSON only: the GUI's method picker calls this without importing torch."""
    try:
        doc = json.loads(config_sidecar(path).read_text())
        if doc.get("checkpoint_sha256") == _file_sha256(path) and isinstance(doc.get("measured"), dict):
            return doc["measured"]
    except (OSError, ValueError, AttributeError):
        pass
    return None


def bundled_method_quality(method: str) -> dict | None:
    """Measured quality of the shipped Omniglot model of ``method`` (``omniglot_conv4_<method>``)."""
    path = bundled_checkpoints().get(f"omniglot_conv4_{method}")
    return measured_quality(path) if path is not None else None


def read_config(path: str | os.PathLike) -> dict:
    """A checkpoint's config.  Listing backbones reads the JSON sidecar so the GUI's backbone menu
    and the torch-free CPU bundle never import torch; a missing or stale sidecar (its hash no longer
    matches the checkpoint) falls back to reading the checkpoint, the source of truth."""
    side = config_sidecar(path)
    try:
        doc = json.loads(side.read_text())
        if doc.get("checkpoint_sha256") == _file_sha256(path):
            return doc["config"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return load_checkpoint(path)["config"]


def bundled_checkpoints() -> dict[str, Path]:
    """Shipped meta-trained Omniglot models: id (file stem) -> path."""
    d = assets_dir() / OMNIGLOT_DIR
    return {p.stem: p for p in sorted(d.glob("*.pt"))} if d.is_dir() else {}


def resolve_checkpoint(name_or_path: str) -> Path:
    """A bundled id (``omniglot_conv4_protonet``) or a path to a checkpoint file."""
    bundled = bundled_checkpoints()
    if name_or_path in bundled:
        return bundled[name_or_path]
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        return p
    raise ModelFileError(name_or_path, f"no such checkpoint or bundled model (bundled: {', '.join(bundled) or 'none'})")


_METHOD_NAMES = {"protonet": "ProtoNet", "relation": "Relation net", "siamese": "Siamese", "maml": "MAML"}


def _display_title(sid: str, method: str, size: int) -> str:
    """"Omniglot Conv-4 · ProtoNet seed 1 (meta-trained, 28 px)".

    The GUI shows the part before " (", so everything that tells two models apart (method, and
    the seed of an ensemble member such as ``omniglot_conv4_protonet_s1``) goes first.
    """
    name = f"Omniglot Conv-4 · {_METHOD_NAMES.get(method, method)}"
    m = re.search(r"_s(\d+)$", sid)
    if m:
        name += f" seed {m.group(1)}"
    return f"{name} (meta-trained, {size} px)"


def bundled_backbone_specs() -> list:
    """The shipped Conv-4 Omniglot models as backbones for ``core.backbones`` (called lazily).

    They take the app's standard input (RGB in [0, 1], mean 0 / std 1, resized to the training
    size) and turn it into the ink map they were trained on (see ``InkConv4``).
    """
    from ..backbones.spec import BackboneSpec

    specs = []
    for sid, path in bundled_checkpoints().items():
        try:
            cfg = read_config(path)
        except ModelFileError:
            continue
        size = int(cfg.get("input_size", 28))
        s = size
        for _ in range(4):
            s //= 2
        specs.append(BackboneSpec(
            id=sid,
            title=_display_title(sid, str(cfg.get("method")), size),
            embed_dim=int(cfg.get("hidden", 64)) * max(s, 1) ** 2,
            license="MIT (weights trained by FewLens on Omniglot's small background sets, MIT, "
                    "github.com/brendenlake/omniglot)",
            source=f"assets/{OMNIGLOT_DIR}/{path.name}",
            input_size=size,
            resize_size=size,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            labels=None,
            builder=_conv4_builder(path),
            weights_file=path,
            info={"architecture": "Conv-4 (4 x conv64-BN-ReLU-maxpool)", "dataset": "Omniglot background small1+small2",
                  "method": str(cfg.get("method")), "input": "glyphs: dark strokes on white"},
        ))
    return specs


def _conv4_builder(path: Path):
    def build():
        from .conv4 import InkConv4

        learner, _ = load_learner(path)
        return InkConv4(learner.backbone).eval()

    return build
