"""The status bar's counts, device and features text."""

from __future__ import annotations

import numpy as np

from core.embedders import cached_embedder
from core.live_model import UNLABELED

from ..jobs import EmbedMissingJob, ImportJob
from ..reliability import one_class_hint
from ..wording import plural


class StatusText:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    # ================================================================== status
    def _set_device(self, label: str) -> None:
        first = not self.w.device_label
        self.w.device_label = label
        self._schedule_status()
        if first and self.w.detail.image_id >= 0 and not self.w.detail.backbone_sees:
            self.w._current_changed(self.w.detail.image_id)  # the model is loaded now: ask what it sees

    def _schedule_status(self, *_args) -> None:
        if not self.w._status_timer.isActive():
            self.w._status_timer.start()

    def _update_status(self) -> None:
        s = self.w.session
        if s is None:
            self.w.status_counts.setText("No project open")
            return
        n = len(s)
        labeled = s.labeled_count
        missing = int(s.missing.sum())
        parts = [plural(n, "image"), f"{labeled:,} labeled", plural(len(s.classes), "class")]
        unknown = int((s.unknown & (s.labels == UNLABELED) & (s.pred.top != UNLABELED)).sum())
        if unknown:
            parts.append(f"{unknown:,} unknown")
        if missing:
            parts.append(f"{missing:,} missing")
        hint = one_class_hint(int(np.unique(s.labels[s.labels != UNLABELED]).size) if labeled else 0)
        if hint:
            parts.append("⚠ one class labeled: label a second one for real predictions")
        self.w.status_counts.setText("  ·  ".join(parts))
        self.w.status_counts.setToolTip(hint)
        self.w.filter_bar.set_unknown_count(unknown)
        pending = s.pending_embeddings
        if pending:
            self.w.status_embedding.setText(f"Analysing {pending:,} images…")
        elif s.refining:
            self.w.status_embedding.setText(f"Refining predictions ({s.method})…")
        else:
            self.w.status_embedding.setText("")
        emb = cached_embedder(s.backbone)
        label = self.w.device_label or (getattr(emb, "device_label", "") if emb is not None else "")
        if not label:
            # every vector came from the cache, so no backbone was loaded: say so only while
            # a job is actually loading one, and name the adapted model's device when it is used
            if s.adapted_in_use:
                on_ort = getattr(s.adapted.network, "session", None) is not None  # the CPU's ONNX export
                label = ("GPU · CUDA (torch)" if s.adapted.device == "cuda"
                         else "CPU · ONNX Runtime" if on_ort else "CPU · torch")
            elif any(isinstance(j, (ImportJob, EmbedMissingJob)) for j in self.w.jobs):
                label = "Loading model…"
        self.w.status_device.setText(label)
        self.w.status_features.setText(self.w.adaptation.features_text())
        self.w.status_features.setToolTip(
            f"Predictions use {s.backbone} fine-tuned on {s.adapted.n_labels:,} of your labeled images."
            if s.adapted_in_use else
            "Predictions use the pretrained backbone's features. Model > Adapt the backbone to my labels "
            "fine-tunes it once every class has 5 labeled images (MobileNetV2 backbones).")
        self.w._update_filter_count()
