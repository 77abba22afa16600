"""The project's embedding cache in front of the user-wide one."""

from __future__ import annotations

import traceback

class LayeredCache:
    """The project's embedding cache first, then the user-wide one (shared with the CLI and
    every other project): photos embedded once are never run through the backbone again.
    Vectors found only in the user cache are copied into the project, so a project file stays
    self-contained.  Use from one thread (each job builds its own)."""

    def __init__(self, project_cache, user_cache=None):
        self.project = project_cache
        self._user = user_cache
        self._user_failed = False

    @property
    def user(self):
        if self._user is None and not self._user_failed:
            try:
                from .embedding_cache import EmbeddingCache

                self._user = EmbeddingCache.default()
            except Exception:  # a convenience only: never fail an import over it
                traceback.print_exc()
                self._user_failed = True
        return self._user

    def check_backbone(self, backbone_id: str, fingerprint: str) -> None:
        """Drop vectors made by other weights under this id (both caches)."""
        for cache in (self.project, self.user):
            check = getattr(cache, "check_backbone", None)
            if check is not None:
                check(backbone_id, fingerprint)

    def get_many(self, hashes, backbone_id: str) -> dict:
        hashes = list(hashes)
        found = self.project.get_many(hashes, backbone_id)
        missing = [h for h in hashes if h not in found]
        if missing and self.user is not None:
            more = self.user.get_many(missing, backbone_id)
            if more:
                self.project.put_many(backbone_id, more)
                found.update(more)
        return found

    def close(self) -> None:
        if self._user is not None:
            self._user.close()
            self._user = None

    def put_many(self, backbone_id: str, vecs) -> None:
        self.project.put_many(backbone_id, vecs)
        if self.user is not None:
            try:
                self.user.put_many(backbone_id, vecs)
            except Exception:
                traceback.print_exc()


def check_cached_weights(cache, backbone: str) -> None:
    """Cached vectors are only valid for the weights that made them (core.pipeline does the
    same check before embedding); run it before reading cached vectors directly."""
    check = getattr(cache, "check_backbone", None)
    if check is None:
        return
    from .backbones import get_backbone
    from .pipeline import backbone_fingerprint

    check(backbone, backbone_fingerprint(get_backbone(backbone)))
