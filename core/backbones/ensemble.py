"""Feature ensembles: several backbones' embeddings side by side, run as one backbone.

MobileNetV2 ⊕ EfficientNet-Lite2 (the pair) and MobileNetV2 ⊕ Lite0 ⊕ Lite2 (the triple) are the
candidates that never lost more than a point to MobileNetV2 alone on any frozen cell of the backbone
suite (bench/results/backbones.md: photos, blood-cell microscopy, drawn characters), and they gain
most where few labels exist (clothing17 1-shot +7.7 / +8.0 points; blood cells 5-shot +6.2 / +8.9).
Each member's embedding is L2-normalized and the concatenation scaled by 1/sqrt(k), so no member
dominates by its feature scale; the methods then center and normalize the whole vector like any embedding.

One module, one ONNX graph: the input is prepared for the member with the largest input (crop and
normalization of Lite2: 260 px of a 292 px resize, (p - 127) / 128); each other member gets, in the
graph, its own share of it (MobileNetV2 and Lite0 keep 224/256 of the resized side: the central
256 px), resized to its own size and renormalized to its own statistics (a per-channel multiply-add).
The crop share matters on blood cells, where the cell fills the centre: resizing Lite2's whole crop
for MobileNetV2 cost 0.4-0.9 points there against the members' own crops (bench/results/backbones.md).
So the export contract (one uint8 image in, one embedding out), the camera and batch prediction need
nothing new.  Torch stays out of listing: the members' torch modules are built on first use.

Adaptation (core.adaptation) fine-tunes one member, ``ADAPTED_MEMBER`` (MobileNetV2, on its own crop and
statistics), and keeps the others frozen: of the adapted variants measured, this one lost least to an
adapted MobileNetV2 alone on blood cells (bench/results/backbones.md), while an adapted Lite2 lost 6.8
points there and takes 3.5x as long.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from .spec import BackboneSpec

MNV2, LITE0, LITE2 = "mobilenet_v2_imagenet", "efficientnet_lite0_imagenet", "efficientnet_lite2_imagenet"


@dataclass(frozen=True)
class EnsembleDef:
    id: str
    members: tuple[str, ...]  # the first one is the member core.adaptation fine-tunes
    title: str


#: The built-in ensembles.  MobileNetV2 comes first in each: it is the member that adapts.
ENSEMBLES = {
    e.id: e for e in (
        EnsembleDef("mobilenet_v2_lite2_imagenet", (MNV2, LITE2),
                    "MobileNetV2 ⊕ EfficientNet-Lite2 · ImageNet (both side by side; 3.5x slower)"),
        EnsembleDef("mobilenet_v2_lite0_lite2_imagenet", (MNV2, LITE0, LITE2),
                    "MobileNetV2 ⊕ Lite0 ⊕ Lite2 · ImageNet (three side by side; 4.5x slower)"),
    )
}
ENSEMBLE_ID = "mobilenet_v2_lite2_imagenet"  # the pair
MEMBERS = ENSEMBLES[ENSEMBLE_ID].members
#: the member core.adaptation fine-tunes (an index into an ensemble's members); the others stay as pretrained
ADAPTED_MEMBER = 0
CONVERTER_VERSION = "ensemble-2"  # 2: each member its own crop share
#: SHA-256 of each member's weights, pinned so the cache key needs no file read at listing (a test
#: checks the pins against the files: a changed member must change the ensemble's key too)
MEMBER_SHA256 = {
    MNV2: "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    LITE0: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    LITE2: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}


def _module_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class FeatureEnsemble(nn.Module):
        """``forward(x)``: x normalized for the ensemble's spec -> concatenated unit embeddings / sqrt(k)."""

        def __init__(self, members: list[nn.Module], specs: list[BackboneSpec], spec: BackboneSpec):
            super().__init__()
            self.members = nn.ModuleList(members)
            self.sizes = [s.input_size for s in specs]
            # the central square each member keeps of the input: the share its own preprocessing keeps
            # of the resized shorter side (input_size / resize_size), capped at the whole input
            self.crops = [min(spec.input_size, round(spec.resize_size * s.input_size / s.resize_size)) for s in specs]
            self.input_size = spec.input_size
            self.dims = [s.embed_dim for s in specs]
            self.embed_dim = sum(self.dims)
            self.adapted_member = ADAPTED_MEMBER  # which member core.adaptation trains
            self.head = None  # no single classifier over the joined features
            for k, s in enumerate(specs):
                # x = (p - m) / sd  ->  x_k = (p - m_k) / sd_k = x * sd / sd_k + (m - m_k) / sd_k
                scale = torch.tensor([a / b for a, b in zip(spec.std, s.std)]).view(1, 3, 1, 1)
                shift = torch.tensor([(m - mk) / sk for m, mk, sk in zip(spec.mean, s.mean, s.std)]).view(1, 3, 1, 1)
                self.register_buffer(f"scale{k}", scale, persistent=False)
                self.register_buffer(f"shift{k}", shift, persistent=False)
            self._norm = 1.0 / math.sqrt(len(members))

        def member_columns(self, k: int) -> slice:
            """Where member ``k``'s (unit, scaled) embedding lies in the joined one."""
            start = sum(self.dims[:k])
            return slice(start, start + self.dims[k])

        def forward(self, x):
            parts = []
            for k, member in enumerate(self.members):
                xk = x
                if self.crops[k] < self.input_size:
                    off = (self.input_size - self.crops[k]) // 2
                    xk = xk[:, :, off:off + self.crops[k], off:off + self.crops[k]]
                if self.sizes[k] != self.crops[k]:
                    xk = F.interpolate(xk, size=(self.sizes[k], self.sizes[k]), mode="bilinear", align_corners=False)
                xk = xk * getattr(self, f"scale{k}") + getattr(self, f"shift{k}")
                parts.append(F.normalize(member(xk), dim=1, eps=1e-12))
            return torch.cat(parts, dim=1) * self._norm

    return FeatureEnsemble


def member_specs(members: tuple[str, ...] = MEMBERS) -> list[BackboneSpec]:
    """The members' own specs, from the modules that define them (the registry imports this one)."""
    from .coral import coral_specs
    from .lite import PACKAGES, lite_spec

    own = {s.id: s for s in coral_specs()} | {p.backbone_id: lite_spec(p) for p in PACKAGES}
    return [own[m] for m in members]


def build_ensemble(spec: BackboneSpec, members: tuple[str, ...]):
    specs = member_specs(members)
    modules = [s.build_torch().float().eval() for s in specs]
    return _module_class()(modules, specs, spec).eval()


def ensemble_spec(ensemble_id: str = ENSEMBLE_ID) -> BackboneSpec:
    """One ensemble's spec: the input is prepared as for its member with the largest input."""
    from .coral import CORAL_LICENSE, CORAL_SOURCE
    from .lite import LICENSE, LITE_MEAN, LITE_STD, PACKAGES

    e = ENSEMBLES[ensemble_id]
    lites = [p for p in PACKAGES if p.backbone_id in e.members]
    largest = max(lites, key=lambda p: p.input_size)
    key = hashlib.sha256("|".join(MEMBER_SHA256[m] for m in e.members).encode()).hexdigest()
    dists = ", ".join(f"PyPI {p.dist}=={p.version}" for p in lites)
    spec = BackboneSpec(
        id=e.id,
        title=e.title,
        embed_dim=1280 * len(e.members),
        license=f"{CORAL_LICENSE} + " + " + ".join(LICENSE.format(dist=p.dist, version=p.version) for p in lites),
        source=f"{CORAL_SOURCE}/mobilenet_v2_1.0_224_quant.tflite and {dists} "
               f"(the built-in backbones, run together)",
        input_size=largest.input_size,
        resize_size=largest.input_size + 32,
        mean=LITE_MEAN,
        std=LITE_STD,
        converter_version=CONVERTER_VERSION,
        info={"architecture": "ensemble", "members": " + ".join(e.members), "adapts": e.members[ADAPTED_MEMBER],
              "trained on": "ImageNet ILSVRC-2012"},
        weights_sha256=key,
    )
    spec.builder = lambda: build_ensemble(spec, e.members)
    return spec


def ensemble_specs() -> list[BackboneSpec]:
    return [ensemble_spec(i) for i in ENSEMBLES]
