"""Background jobs: everything that touches the disk or runs the backbone.

Each job is a QObject living on the UI thread whose ``run()`` executes on a
QThreadPool thread and talks back only through signals (queued onto the UI
thread), so widgets are never touched off the UI thread.  Jobs check
``cancelled`` between small batches; cancelling keeps what already finished
(imported images stay imported).
"""

from __future__ import annotations

from .backbones import BackboneListJob, backbone_choices, backbone_tooltip
from .base import Job
from .detail import DetailJob, DetailResult
from .embedding import CACHE_CHUNK, CHUNK, EmbeddedChunk, EmbedMissingJob, ImportJob, ImportPlan
from .project import LocateJob, OpenProjectJob, SaveAsJob
from .try_it import TryItJob, TryItResult

__all__ = [
    "backbone_choices",
    "backbone_tooltip",
    "BackboneListJob",
    "CACHE_CHUNK",
    "CHUNK",
    "DetailJob",
    "DetailResult",
    "EmbeddedChunk",
    "EmbedMissingJob",
    "ImportJob",
    "ImportPlan",
    "Job",
    "LocateJob",
    "OpenProjectJob",
    "SaveAsJob",
    "TryItJob",
    "TryItResult",
]
