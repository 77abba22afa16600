"""Listing the backbones (reading the registry may import torch: done off the UI thread)."""

from __future__ import annotations

import traceback

from .base import Job


def backbone_choices() -> list[tuple[str, str]]:
    """(id, title) of every registered backbone; empty when the registry is unavailable."""
    try:
        from core.backbones import list_backbones

        return [(b.id, getattr(b, "title", b.id)) for b in list_backbones()]
    except Exception:
        traceback.print_exc()
        return []


def backbone_tooltip(spec) -> str:
    """What the picker shows on hover: the title, input, provenance and license of a backbone."""
    lines = [spec.title, spec.id,
             f"Input {spec.input_size}x{spec.input_size}, {spec.normalization()}; {spec.embed_dim}-d features",
             f"Source: {spec.source}", f"License: {spec.license}"]
    try:
        from core.adaptation import MIN_SHOTS, can_adapt, why_not_adaptable

        part = f" (its {spec.info['adapts']} member)" if spec.info.get("adapts") else ""
        lines.append(f"Adapts to your labels: yes, from {MIN_SHOTS} labels per class{part}" if can_adapt(spec.id)
                     else f"Adapts to your labels: no — {why_not_adaptable(spec.id).split(': ', 1)[-1]}")
    except Exception:  # a tooltip never fails the picker
        pass
    return "\n".join(lines)


class BackboneListJob(Job):
    """Read the backbone registry (meta-trained entries load their checkpoints)."""

    title = "Listing backbones"

    def __init__(self):
        super().__init__()
        self.choices: list[tuple[str, str]] = []
        self.tooltips: dict[str, str] = {}

    def run(self) -> None:
        self.choices = backbone_choices()
        try:
            from core.backbones import list_backbones

            self.tooltips = {s.id: backbone_tooltip(s) for s in list_backbones()}
        except Exception:  # tooltips are a nicety: the plain list above still fills the picker
            traceback.print_exc()
