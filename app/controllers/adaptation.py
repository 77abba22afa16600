"""The Adapt toggle and what a finished adaptation tells the user."""

from __future__ import annotations

from core.adaptation import MIN_SHOTS

from ..jobs import EmbedMissingJob, ImportJob, LocateJob
from ..jobs.adapt import AdaptJob


class AdaptationActions:
    """Part of the main window's work; ``self.w`` is the window."""

    def __init__(self, window):
        self.w = window

    # ================================================================== adapting the backbone
    def _adapt_blocked(self) -> bool:
        """Imports and embedding go first: the adaptation re-analyses every image they bring."""
        return any(isinstance(j, (ImportJob, EmbedMissingJob, LocateJob)) and j.running for j in self.w.jobs)

    def _adapt_toggled(self, on: bool) -> None:
        if self.w.session is None:
            return
        self.w.session.set_adapt_enabled(on)
        if self.w.adapter is not None:
            if on:
                self.w.adapter.retry()
            else:
                self.w.adapter.cancel()
        self.w.status._schedule_status()

    def _adapt_done(self, job: AdaptJob) -> None:
        if job.errors and not job.cancelled:
            n = len(job.errors)
            self.w.report.show_errors(job.errors, 0, title=f"⚠  {n} file{'s' if n != 1 else ''} could not be read "
                                    "while adapting the model", sub="— skipped; the other images were used:")
        if job.cancelled and not job.superseded:
            self.w.statusBar().showMessage("Adapting cancelled: predictions keep the pretrained features "
                                         "until the labels change.", 8000)
        elif job.error:
            self.w.statusBar().showMessage(f"Adapting the model failed: {job.error}", 10000)
        elif job.skipped:
            self.w.statusBar().showMessage(f"Not adapted: {job.skipped}.", 8000)
        elif getattr(job, "notice", None):  # a damaged saved adaptation: it adapts again
            self.w.statusBar().showMessage(job.notice, 10000)
        self.w.status._schedule_status()

    def features_text(self) -> str:
        """The status bar's word on which features the predictions use."""
        s = self.w.session
        running = self.w.adapter is not None and self.w.adapter.running
        if s.adapted_in_use:
            text = f"Features adapted to {s.adapted.n_labels:,} labels"
            return text + (" · updating…" if running else "")
        text = "Pretrained features"
        if not self.w.adapt_available:
            return text + " · no adaptation in this build (Help ▸ About)"
        if running:
            return text + " · adapting…"
        if s.adapt_enabled and s.can_adapt() and not s.labels_allow_adaptation():
            return text + f" · adapts at {MIN_SHOTS} labels per class"
        return text
