"""The backbone registry: bundled Coral models, meta-trained ones, and what users register."""

from __future__ import annotations

import logging
import threading

from .spec import BackboneSpec

DEFAULT_BACKBONE = "mobilenet_v2_imagenet"

log = logging.getLogger(__name__)
# Re-entrant: a plug-in's bundled_backbone_specs() may itself call register_backbone().
_lock = threading.RLock()
_registry: dict[str, BackboneSpec] = {}
_bundled_loaded = False
_plugins_loaded = False


def _ensure_bundled() -> None:
    """The Coral and EfficientNet-Lite backbones and their ensembles: cheap (specs only, no weights read,
    no torch)."""
    global _bundled_loaded
    with _lock:
        if _bundled_loaded:
            return
        _bundled_loaded = True
        from .coral import coral_specs
        from .ensemble import ensemble_specs
        from .lite import lite_specs

        for spec in coral_specs() + lite_specs() + ensemble_specs():
            _registry.setdefault(spec.id, spec)


def _ensure_plugins() -> None:
    """Meta-trained backbones, from the meta-learning module when it is installed.

    Loaded only when a listing or an unknown id needs them: reading their checkpoints may import
    torch, which the CPU inference path with a bundled backbone must not.
    """
    global _plugins_loaded
    _ensure_bundled()
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        try:
            from ..meta.checkpoints import bundled_backbone_specs

            specs = list(bundled_backbone_specs())
        except ModuleNotFoundError:  # meta-learning (or torch) not in this bundle
            return
        except Exception as e:  # a broken plug-in must not take the bundled backbones down with it
            log.warning("meta-trained backbones unavailable: %s", e)
            return
        for spec in specs:
            _registry.setdefault(spec.id, spec)


def register_backbone(spec: BackboneSpec, replace: bool = False) -> BackboneSpec:
    """Make ``spec`` available by id.  Re-registering an id needs ``replace=True``."""
    _ensure_bundled()
    with _lock:
        old = _registry.get(spec.id)
        if old is not None and old is not spec and not replace:
            raise ValueError(f"backbone {spec.id!r} is already registered")
        _registry[spec.id] = spec
    return spec


def unregister_backbone(backbone_id: str) -> None:
    """Forget a registered backbone (e.g. a user model the user removed).  Unknown ids are ignored."""
    _ensure_bundled()
    with _lock:
        _registry.pop(backbone_id, None)


def list_backbones() -> list[BackboneSpec]:
    _ensure_plugins()
    with _lock:
        return list(_registry.values())


def backbone_ids() -> list[str]:
    return [s.id for s in list_backbones()]


def find_backbone(backbone_id: str) -> BackboneSpec | None:
    """The registered spec for ``backbone_id`` (bundled, meta-trained or registered), or None."""
    _ensure_bundled()
    with _lock:
        spec = _registry.get(backbone_id)
    if spec is None:
        _ensure_plugins()
        with _lock:
            spec = _registry.get(backbone_id)
    return spec
