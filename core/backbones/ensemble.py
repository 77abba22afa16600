"""Feature ensembles: two backbones' embeddings side by side, run as one backbone.

MobileNetV2 ⊕ EfficientNet-Lite2 was the one candidate that never lost more than a point to
MobileNetV2 alone on any member of the backbone suite (bench/results/backbones.md: photos,
blood-cell microscopy, drawn characters), and it gains most where few labels exist (clothing17
1-shot +7.9 points).  Each member's embedding is L2-normalized and the concatenation scaled by
1/sqrt(k), so neither member dominates by its feature scale; the methods then center and normalize
the whole vector like any embedding.

One module, one ONNX graph: the input is prepared for the member with the largest input (crop and
normalization of Lite2: 260 px of a 292 px resize, (p - 127) / 128); each other member gets, in the
graph, its own share of it (MobileNetV2 keeps 224/256 of the resized side: the central 256 px),
resized to its own size and renormalized to its own statistics (a per-channel multiply-add).  The
crop share matters on blood cells, where the cell fills the centre: resizing Lite2's whole crop for
MobileNetV2 cost 0.4-0.9 points there against the members' own crops (bench/results/backbones.md).  So the
export contract (one uint8 image in, one embedding out), the camera and batch prediction need
nothing new.  Torch stays out of listing: the members' torch modules are built on first use.

Adaptation (core.adaptation) fine-tunes one member, ``ADAPTED_MEMBER`` (MobileNetV2, on its own crop and
statistics), and keeps Lite2 frozen: of the adapted variants measured, this one stayed within a point of
an adapted MobileNetV2 alone on every suite member (bench/results/backbones.md), while an adapted Lite2
lost 6.8 points on blood cells and takes 3.5x as long.
"""

from __future__ import annotations

import hashlib
import math

from .spec import BackboneSpec

ENSEMBLE_ID = "mobilenet_v2_lite2_imagenet"
MEMBERS = ("mobilenet_v2_imagenet", "efficientnet_lite2_imagenet")
#: the member core.adaptation fine-tunes (an index into MEMBERS); the others stay as pretrained
ADAPTED_MEMBER = 0
CONVERTER_VERSION = "ensemble-2"  # 2: each member its own crop share
#: SHA-256 of each member's weights, pinned so the cache key needs no file read at listing (a test
#: checks the pins against the files: a changed member must change the ensemble's key too)
MEMBER_SHA256 = {
    "mobilenet_v2_imagenet": "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    "efficientnet_lite2_imagenet": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
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


def member_specs() -> list[BackboneSpec]:
    """The members' own specs, from the modules that define them (the registry imports this one)."""
    from .coral import coral_specs
    from .lite import PACKAGES, lite_spec

    mnv2 = next(s for s in coral_specs() if s.id == MEMBERS[0])
    lite2 = lite_spec(next(p for p in PACKAGES if p.backbone_id == MEMBERS[1]))
    return [mnv2, lite2]


def build_ensemble(spec: BackboneSpec):
    specs = member_specs()
    members = [s.build_torch().float().eval() for s in specs]
    return _module_class()(members, specs, spec).eval()


def ensemble_spec() -> BackboneSpec:
    from .coral import CORAL_LICENSE, CORAL_SOURCE
    from .lite import LICENSE, LITE_MEAN, LITE_STD, PACKAGES

    lite2 = next(p for p in PACKAGES if p.backbone_id == MEMBERS[1])
    key = hashlib.sha256("|".join(MEMBER_SHA256[m] for m in MEMBERS).encode()).hexdigest()
    spec = BackboneSpec(
        id=ENSEMBLE_ID,
        title="MobileNetV2 ⊕ EfficientNet-Lite2 · ImageNet (both side by side; 3x slower)",
        embed_dim=1280 + 1280,
        license=f"{CORAL_LICENSE} + {LICENSE.format(dist=lite2.dist, version=lite2.version)}",
        source=f"{CORAL_SOURCE}/mobilenet_v2_1.0_224_quant.tflite and PyPI {lite2.dist}=={lite2.version} "
               "(the two built-in backbones, run together)",
        input_size=lite2.input_size,
        resize_size=lite2.input_size + 32,
        mean=LITE_MEAN,
        std=LITE_STD,
        converter_version=CONVERTER_VERSION,
        info={"architecture": "ensemble", "members": " + ".join(MEMBERS), "adapts": MEMBERS[ADAPTED_MEMBER],
              "trained on": "ImageNet ILSVRC-2012"},
        weights_sha256=key,
    )
    spec.builder = lambda: build_ensemble(spec)
    return spec
