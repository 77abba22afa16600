"""The bundled backbones: Google Coral's quantized MobileNets, ported to float torch modules.

Conversion happens on first use (it needs torch): the TFLite file is parsed and dequantized, the
weights are loaded into :mod:`core.backbones.mobilenet` modules and the resulting state dict is
cached under ``cache_dir()/torch/`` keyed by the spec's ``weights_id()``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..paths import assets_dir, cache_dir
from .spec import TFLITE_UINT8_MEAN, TFLITE_UINT8_STD, BackboneSpec
from .tflite_reader import CONVERTER_VERSION

CORAL_DIR = "models/coral"
CORAL_LICENSE = "Apache-2.0 (Google Coral test_data; see assets/models/coral/LICENSE)"
CORAL_SOURCE = "github.com/google-coral/test_data"
# Backbones whose first conv runs in exact integer arithmetic (see mobilenet.QuantizedStem).  The
# iNat files need it to match LiteRT (cosine 0.979 -> 0.996 on the test photos); the ImageNet ones
# match without it (0.997+), and skip its ~10% ONNX Runtime cost (a divide, round and two layout
# reorders on the 112x112x32 map).  bench/bench_embed.py's ablation table shows both.
QUANTIZED_STEM = {"mobilenet_v2_inat_birds", "mobilenet_v2_inat_insects"}


def _labels(name: str) -> list[str]:
    path = assets_dir() / CORAL_DIR / name
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _coral_builder(spec: BackboneSpec, tflite_name: str, arch: str, num_classes: int):
    # the spec itself, not a registry lookup: the registry imports this module
    qstem = spec.id in QUANTIZED_STEM

    def build():
        import torch

        from .mobilenet import ARCHITECTURES, mobilenet_from_tflite
        from .onnx_export import prune_stale
        from .tflite_reader import read_tflite

        cached = cache_dir() / "torch" / f"{spec.weights_id()}.pt"
        if cached.exists():
            model = ARCHITECTURES[arch](num_classes=num_classes, quantized_stem=qstem)
            try:
                model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
                return model.eval()
            except Exception:  # stale or partial cache entry: rebuild it below
                pass
        net = read_tflite(assets_dir() / CORAL_DIR / tflite_name)
        model = mobilenet_from_tflite(net, arch, quantized_stem=qstem)
        _atomic_torch_save(model.state_dict(), cached)
        prune_stale(cached)
        return model

    return build


def _atomic_torch_save(obj, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def coral_specs() -> list[BackboneSpec]:
    d = assets_dir() / CORAL_DIR
    rows = [
        # id, title, file, arch, embed dim, labels file, classes (incl. background), trained on
        ("mobilenet_v2_imagenet", "MobileNetV2 · ImageNet (default, photos)", "mobilenet_v2_1.0_224_quant.tflite",
         "mobilenet_v2", 1280, "imagenet_labels.txt", 1001, "ImageNet ILSVRC-2012"),
        ("mobilenet_v2_inat_birds", "MobileNetV2 · iNaturalist birds", "mobilenet_v2_1.0_224_inat_bird_quant.tflite",
         "mobilenet_v2", 1280, "inat_bird_labels.txt", 965, "iNaturalist 2017 birds (964 species)"),
        ("mobilenet_v2_inat_insects", "MobileNetV2 · iNaturalist insects",
         "mobilenet_v2_1.0_224_inat_insect_quant.tflite", "mobilenet_v2", 1280, "inat_insect_labels.txt", 1022,
         "iNaturalist 2017 insects (1021 species)"),
        ("mobilenet_v1_imagenet", "MobileNetV1 · ImageNet (embedding extractor)",
         "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", "mobilenet_v1", 1024, None, 0,
         "ImageNet ILSVRC-2012"),
    ]
    specs = []
    for sid, title, fname, arch, dim, labels, ncls, data in rows:
        spec = BackboneSpec(
            id=sid,
            title=title,
            embed_dim=dim,
            license=CORAL_LICENSE,
            source=f"{CORAL_SOURCE}/{fname} (uint8 TFLite, dequantized to float32)",
            mean=TFLITE_UINT8_MEAN,
            std=TFLITE_UINT8_STD,
            labels=_labels(labels) if labels else None,
            weights_file=d / fname,
            converter_version=f"{CONVERTER_VERSION}+qstem-{int(sid in QUANTIZED_STEM)}",
            info={"architecture": arch, "trained on": data},
        )
        spec.builder = _coral_builder(spec, fname, arch, ncls)
        specs.append(spec)
    return specs
