"""The toolbar's backbone, method and unknown-threshold pickers."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSlider

from core.live_model import auto_threshold_help
from core.methods import DEFAULT_METHOD, method_names

from ..jobs import BackboneListJob
from ..widgets.pickers import TOGGLE, backbone_choice, fill_grouped, method_choices
from ..widgets.theme import icon


def readable_id(backbone_id: str) -> str:
    """"mobilenet_v2_imagenet" -> "MobileNet V2 · ImageNet": shown until the registry is read."""
    known = {"mobilenet": "MobileNet", "imagenet": "ImageNet", "inat": "iNat", "conv4": "Conv-4"}
    words = [known.get(w, w.upper() if w[:1] == "v" and w[1:].isdigit() else w.capitalize())
             for w in backbone_id.split("_")]
    return " ".join(words[:2]) + (" · " + " ".join(words[2:]) if len(words) > 2 else "")



class LazyComboBox(QComboBox):
    """A combo box whose items are loaded when first opened (``popupRequested``)."""

    popupRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loaded = False
        self.pending_popup = False

    def showPopup(self) -> None:  # noqa: N802
        if not self.loaded:
            self.pending_popup = True
            self.popupRequested.emit()
        else:
            self.pending_popup = False
        super().showPopup()

class ModelPickers:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    def _load_backbones(self) -> None:
        if self.w._backbones_job is not None:
            return
        self.w._backbones_job = BackboneListJob()
        self.w._backbones_job.finished.connect(self._fill_backbones)
        combo = self.w.backbone_combo
        combo.blockSignals(True)
        combo.addItem("Loading backbones…")
        combo.setItemData(combo.count() - 1, 0, Qt.ItemDataRole.UserRole - 1)  # not selectable
        combo.blockSignals(False)
        self.w._start(self.w._backbones_job, show=False)

    def _fill_backbones(self, job: "BackboneListJob") -> None:
        combo = self.w.backbone_combo
        current = combo.currentData() or (self.w.session.backbone if self.w.session is not None else None)
        self.w._backbone_choices = []
        for bid, title in job.choices:
            # "MobileNetV2 · ImageNet (default, photos)" -> the name; the details go to the tooltip
            self.w._backbone_titles[bid] = title
            tip = getattr(job, "tooltips", {}).get(bid, "")  # provenance + license
            self.w._backbone_choices.append(backbone_choice(bid, title, tip))
        fill_grouped(combo, self.w._backbone_choices, current, self.w._show_all["backbone"])
        combo.loaded = True
        if self.w.session is not None:
            self._sync_toolbar()
        elif current is not None:
            combo.setCurrentIndex(max(0, combo.findData(current)))
        if combo.pending_popup:
            combo.showPopup()

    def _sync_toolbar(self) -> None:
        s = self.w.session
        self._fill_methods(s.method)  # the project's method is listed even if it is a hidden one
        for combo, value in ((self.w.backbone_combo, s.backbone), (self.w.method_combo, s.method)):
            combo.blockSignals(True)
            k = combo.findData(value)
            if k < 0:
                combo.addItem(self.w._backbone_titles.get(value, readable_id(value)).split(" (")[0], value)
                k = combo.count() - 1
            combo.setCurrentIndex(k)
            combo.blockSignals(False)
        self.w.act_adapt.blockSignals(True)
        self.w.act_adapt.setChecked(s.adapt_enabled)
        self.w.act_adapt.blockSignals(False)
        self._sync_threshold()

    def follow_session(self) -> None:
        """Keep the pickers on the session's method and backbone when something other than the
        pickers changed them (code, the evaluation view, a script), without refilling them on
        every setting change the pickers made themselves."""
        s = self.w.session
        if s is None:
            return
        backbone_off = getattr(self.w.backbone_combo, "loaded", False) and self.w.backbone_combo.currentData() != s.backbone
        if self.w.method_combo.currentData() != s.method or backbone_off:
            self._sync_toolbar()

    def _sync_threshold(self, *_args) -> None:
        """Show the threshold in use (in Auto mode it follows every refit)."""
        s = self.w.session
        if s is None:
            return
        value = round(s.effective_threshold * 100)
        for w in (self.w.threshold_slider, self.w.threshold_auto):
            w.blockSignals(True)
        self.w.threshold_auto.setChecked(s.auto_threshold)
        self.w.threshold_slider.setValue(value)
        for w in (self.w.threshold_slider, self.w.threshold_auto):
            w.blockSignals(False)
        self.w.threshold_value.setText(f"{value}%")
        auto = s.auto_threshold and s.pred.auto_threshold is not None
        self.w.threshold_value.setToolTip(auto_threshold_help(s.effective_threshold) if auto else "")

    # ================================================================== toolbar settings
    def _fill_methods(self, current: str | None) -> None:
        fill_grouped(self.w.method_combo, method_choices(method_names(embedding_level_only=True), current=current), current,
                     self.w._show_all["method"])

    def _toggle_show_all(self, which: str) -> None:
        """The picker's last entry: show every choice, or only those that fit a photo project."""
        self.w._show_all[which] = not self.w._show_all[which]
        current = None
        if self.w.session is not None:
            current = self.w.session.method if which == "method" else self.w.session.backbone
        if which == "method":
            self._fill_methods(current)
            QTimer.singleShot(0, self.w.method_combo.showPopup)
        else:
            fill_grouped(self.w.backbone_combo, getattr(self.w, "_backbone_choices", []), current,
                         self.w._show_all["backbone"])
            QTimer.singleShot(0, self.w.backbone_combo.showPopup)

    def _backbone_picked(self, _index: int) -> None:
        bid = self.w.backbone_combo.currentData()
        if bid == TOGGLE:
            self._toggle_show_all("backbone")
            return
        if self.w.session is None or not bid or bid == self.w.session.backbone:
            return
        self.w.session.set_backbone(bid)
        self.w.device_label = ""
        self.w.imports.embed_missing()

    def _method_picked(self, _index: int) -> None:
        name = self.w.method_combo.currentData()
        if name == TOGGLE:
            self._toggle_show_all("method")
            return
        if self.w.session is not None and name:
            self.w.session.set_method(name)

    def _threshold_moved(self, value: int) -> None:
        self.w.threshold_value.setText(f"{value}%")
        if self.w.session is not None:
            self.w.session.set_threshold(value / 100.0, persist=False)  # a manual value: Auto off
            self.w.threshold_auto.blockSignals(True)
            self.w.threshold_auto.setChecked(False)
            self.w.threshold_auto.blockSignals(False)
            self.w._threshold_timer.start()

    def _threshold_auto_toggled(self, auto: bool) -> None:
        if self.w.session is not None:
            self.w.session.set_auto_threshold(auto)
            self._sync_threshold()

    def _persist_threshold(self) -> None:
        if self.w.session is not None:
            self.w.session.set_threshold(self.w.session.threshold, persist=True)

    def build_toolbar(self) -> None:
        """The toolbar these pickers live in (built by the window at start)."""
        tb = self.w.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.w.act_add_folder.setIcon(icon("add-folder"))
        self.w.act_try.setIcon(icon("try-it"))
        tb.addAction(self.w.act_add_folder)
        tb.addAction(self.w.act_try)
        tb.addSeparator()
        tb.addWidget(QLabel("Backbone"))
        self.w.backbone_combo = LazyComboBox()
        self.w.backbone_combo.setToolTip("The pretrained network that turns images into features. "
                                         "Changing it re-analyses every image in the background.")
        # Listing backbones loads the meta-trained checkpoints, i.e. imports torch (seconds and
        # ~600 MB that the ONNX Runtime path otherwise never needs), so the list is read on a
        # worker the first time the user opens the selector; until then it shows the current one.
        self.w._backbone_titles: dict[str, str] = {}
        self.w._backbones_job: BackboneListJob | None = None
        # A fixed width that fits the titles: the lazily filled list must not resize the toolbar
        # (nor cut the current name to "MobileNe", as the one-entry first fill did).
        self.w.backbone_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.w.backbone_combo.setMinimumContentsLength(24)
        self.w.backbone_combo.popupRequested.connect(self._load_backbones)
        self.w.backbone_combo.currentIndexChanged.connect(self._backbone_picked)
        tb.addWidget(self.w.backbone_combo)
        tb.addWidget(QLabel("Method"))
        self.w.method_combo = QComboBox()
        self.w.method_combo.setToolTip("The few-shot method that learns your classes from the labeled images")
        self.w._show_all = {"method": False, "backbone": False}
        self._fill_methods(DEFAULT_METHOD)
        self.w.method_combo.currentIndexChanged.connect(self._method_picked)
        tb.addWidget(self.w.method_combo)
        tb.addSeparator()
        tb.addWidget(QLabel("Unknown below"))
        self.w.threshold_auto = QCheckBox("Auto")
        self.w.threshold_auto.setToolTip(auto_threshold_help())
        self.w.threshold_auto.toggled.connect(self._threshold_auto_toggled)
        tb.addWidget(self.w.threshold_auto)
        self.w.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.w.threshold_slider.setRange(0, 95)
        self.w.threshold_slider.setSingleStep(5)
        self.w.threshold_slider.setFixedWidth(120)
        self.w.threshold_slider.setToolTip("Predictions less confident than this are marked unknown")
        self.w.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.w.threshold_value = QLabel("50%")
        self.w.threshold_value.setMinimumWidth(36)
        tb.addWidget(self.w.threshold_slider)
        tb.addWidget(self.w.threshold_value)
