"""Class colours: a distinct, colourblind-friendly palette, then golden-angle hues."""

from __future__ import annotations

import colorsys

from .errors import ProjectError

# Distinct, colorblind-friendly first (Okabe-Ito + Tableau-like); beyond that, golden-angle hues.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442",
    "#8C564B", "#7F7F7F", "#17BECF", "#BCBD22", "#9467BD", "#E377C2", "#2CA02C",
)


def auto_color(index: int, used: set[str]) -> str:
    for c in PALETTE:
        if c.upper() not in used:
            return c
    # Palette exhausted: spread hues by the golden angle so neighbours stay distinct.
    h = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.85)
    return f"#{int(r * 255):02X}{int(g * 255):02X}{int(b * 255):02X}"


def normalize_color(color: str, path: str) -> str:
    c = color.strip()
    if not c.startswith("#"):
        c = "#" + c
    if len(c) == 4:  # #RGB
        c = "#" + "".join(ch * 2 for ch in c[1:])
    try:
        int(c[1:], 16)
    except ValueError:
        raise ProjectError(path, f"invalid color {color!r} (expected #RRGGBB)") from None
    if len(c) != 7:
        raise ProjectError(path, f"invalid color {color!r} (expected #RRGGBB)")
    return c.upper()


__all__ = ["PALETTE", "auto_color", "normalize_color"]
