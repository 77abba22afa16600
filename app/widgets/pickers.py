"""The toolbar's backbone and method pickers: grouped, one line of plain help each, and the
choices that cannot help a photo project (Omniglot models, research methods) behind "Show all".

Issue 10: "Omniglot Conv-4 · MAML", "Relation net" and "Linear probe" side by side with the
recommended choices read as jargon; a user could not tell which to pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox

from core.backbones import DEFAULT_BACKBONE
from core.backbones.ensemble import ENSEMBLES
from core.methods import DEFAULT_METHOD

#: the picker entry that flips between the short and the full list
TOGGLE = "__show_all__"


@dataclass(frozen=True)
class Choice:
    value: str
    title: str
    group: str
    help: str
    advanced: bool = False  # hidden until "Show all"
    detail: str = ""  # second tooltip paragraph (a backbone's input, source and license)


RECOMMENDED = "Recommended"
METHODS: dict[str, tuple[str, str, str, bool]] = {
    # name: (title, group, one line of plain help, advanced)
    "auto": ("Auto (chosen from your labels)", RECOMMENDED,
             "Your labels choose between the two prototype methods (each label held out in turn).", False),
    "softkmeans": ("Prototypes + unlabeled", RECOMMENDED,
                   "Compares each image with the average of each class, refined with your unlabeled images.", False),
    "protonet": ("Prototypes", RECOMMENDED,
                 "Compares each image with the average of each class's labeled images.", False),
    "linear_probe": ("Linear classifier", "Research methods",
                     "Trains a linear classifier on the features; needs more labels to beat prototypes.", True),
    "maml": ("MAML head", "Research methods",
             "Meta-learned classifier head adapted to your labels in a few gradient steps.", True),
    "siamese": ("Siamese similarity", "Research methods",
                "Scores how similar an image is to each labeled image with a learned similarity.", True),
    "relation": ("Relation network", "Research methods",
                 "A learned network compares each image with each class.", True),
}


#: A method whose shipped meta-trained model (assets/models/omniglot/omniglot_conv4_<method>.pt)
#: has a measured Lake one-shot error above this is not offered: 20 % (80 % correct, 20-way) is
#: well below the single ProtoNet's 12 % and the published 2-8 %, i.e. a model that does not work.
MAX_SHIPPED_LAKE_ERROR_PCT = 20.0


def method_quality(name: str) -> dict | None:
    """The measured score in the JSON sidecar of the method's shipped model (no torch import)."""
    from core.meta.checkpoints import bundled_method_quality

    return bundled_method_quality(name)


def quality_text(q: dict) -> str:
    lo, hi = q.get("lake_error_ci95_pct") or (None, None)
    ci = f", 95 % interval {lo:.1f}-{hi:.1f} %" if lo is not None else ""
    return (f"Measured on handwritten characters (Omniglot, Lake's 20-way one-shot test): "
            f"{q['lake_error_pct']:.1f} % wrong ({q.get('errors', '?')}/{q.get('queries', '?')}{ci}).")


def method_choices(names: list[str], quality=None, current: str | None = None) -> list[Choice]:
    """Picker entries in display order; a method whose shipped model measured worse than
    ``MAX_SHIPPED_LAKE_ERROR_PCT`` is left out, the others' tooltips carry the measured score.
    ``current`` (the project's method) is always listed: a project made with a method that is no
    longer offered keeps it, marked, instead of silently switching to another."""
    order = list(METHODS)
    names = sorted(names, key=lambda n: (n != DEFAULT_METHOD, order.index(n) if n in order else len(order), n))
    out = []
    for name in names:
        title, group, text, advanced = METHODS.get(name, (name, "Research methods", "A registered method.", True))
        q = (quality or method_quality)(name)
        detail = quality_text(q) if q else ""
        if q is not None and float(q.get("lake_error_pct", 100.0)) > MAX_SHIPPED_LAKE_ERROR_PCT:
            if name != current:
                continue
            title += " (not recommended)"
            detail += (f" Above the {MAX_SHIPPED_LAKE_ERROR_PCT:.0f} % this app accepts: no longer offered for"
                       " new projects; this project keeps it until you pick another.")
        if name == DEFAULT_METHOD:
            title += " (default)"
        out.append(Choice(name, title, group, text, advanced, detail=detail))
    return out


#: What each built-in ensemble is for, from bench/results/backbones.md
ENSEMBLE_DETAILS = {
    "mobilenet_v2_lite2_imagenet":
        "MobileNetV2 and EfficientNet-Lite2 together, about 3.5x slower to analyse. With 1-2 labels per class "
        "better than MobileNetV2 alone on photos, cells and drawings. From {min_shots} labels per class it "
        "adapts its MobileNetV2 part to your labels: then it is clearly better on photos, slightly worse on "
        "microscopy.",
    "mobilenet_v2_lite0_lite2_imagenet":
        "MobileNetV2, EfficientNet-Lite0 and Lite2 together, about 4.5x slower to analyse. With 1-2 labels per "
        "class better than MobileNetV2 alone on photos, cells and drawings, and the strongest here on cells. "
        "From {min_shots} labels per class it adapts its MobileNetV2 part to your labels: then it is clearly "
        "better on photos and worse on microscopy than MobileNetV2 alone.",
}


def backbone_choice(bid: str, title: str, detail: str = "") -> Choice:
    import dataclasses

    return dataclasses.replace(_backbone_choice(bid, title), detail=detail)


def _backbone_choice(bid: str, title: str) -> Choice:
    name = title.split(" (")[0]
    low = bid.lower()
    if "omniglot" in low or "conv4" in low:
        return Choice(bid, name, "For drawings and characters",
                      "Trained on handwritten characters (Omniglot): for black-on-white drawings, not photos.", True)
    if "inat" in low:
        return Choice(bid, name, "For nature photos",
                      "Trained on iNaturalist species photos: try it for birds or insects.")
    if bid in ENSEMBLES:
        from core.adaptation import MIN_SHOTS

        return Choice(bid, name, "Other photo models", ENSEMBLE_DETAILS[bid].format(min_shots=MIN_SHOTS))
    if "lite" in low and "efficientnet" in low:
        return Choice(bid, name, "Other photo models",
                      "EfficientNet-Lite, pretrained on ImageNet photos: stronger features, slower to analyse.")
    if bid == DEFAULT_BACKBONE:
        return Choice(bid, name + " (default)", RECOMMENDED, "A good general choice for photos.")
    if low.startswith("user") or "/" in bid or bid.endswith(".onnx"):
        return Choice(bid, name, "Your models", "A feature extractor you added.")
    return Choice(bid, name, "Other photo models", "Another network pretrained on ImageNet photos.")


def fill_grouped(combo: QComboBox, choices: list[Choice], current: str | None, show_all: bool) -> None:
    """Fill ``combo`` with group headers (not selectable), the choices (the current one always
    shown), and a last "Show all…" / "Show fewer" entry when some are hidden."""
    model = QStandardItemModel(combo)
    shown = [c for c in choices if show_all or not c.advanced or c.value == current]
    hidden = len(choices) - len(shown)
    groups: list[str] = []
    for c in shown:
        if c.group not in groups:
            groups.append(c.group)
    if RECOMMENDED in groups:
        groups.insert(0, groups.pop(groups.index(RECOMMENDED)))
    header_font = QFont(combo.font())
    header_font.setBold(True)
    header_font.setPointSizeF(header_font.pointSizeF() * 0.9)
    for g in groups:
        head = QStandardItem(g.upper())
        head.setFlags(Qt.ItemFlag.NoItemFlags)
        head.setFont(header_font)
        model.appendRow(head)
        for c in (c for c in shown if c.group == g):
            item = QStandardItem("   " + c.title)
            item.setData(c.value, Qt.ItemDataRole.UserRole)
            item.setToolTip(f"{c.help}\n\n{c.detail}" if c.detail else f"{c.help}\n({c.value})")
            model.appendRow(item)
    if hidden or show_all:
        toggle = QStandardItem(f"   Show all ({hidden} more)…" if hidden else "   Show fewer")
        toggle.setData(TOGGLE, Qt.ItemDataRole.UserRole)
        model.appendRow(toggle)
    combo.blockSignals(True)
    combo.setModel(model)
    k = combo.findData(current) if current is not None else -1
    combo.setCurrentIndex(k if k >= 0 else _first_choice(model))
    combo.blockSignals(False)
    # never cut the current name ("MobileNe…"): fit the longest entry
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    combo.setMinimumContentsLength(14)


def _first_choice(model: QStandardItemModel) -> int:
    for r in range(model.rowCount()):
        if model.item(r).isEnabled():
            return r
    return -1


def current_title(combo: QComboBox) -> str:
    return combo.currentText().strip()
