"""embed_files with the real default backbone: same vectors as embedding the decoded images directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.embedder import Embedder
from core.embedding_cache import EmbeddingCache
from core.images import find_images, load_image
from core.pipeline import embed_files

PHOTOS = Path(__file__).parents[1] / "data" / "coral" / "images"


def test_pipeline_matches_direct_embedding_and_cache_round_trips(tmp_path):
    files = find_images(PHOTOS)[:6]
    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    direct = emb.embed_images([load_image(f, min_side=emb.spec.resize_size) for f in files])
    with EmbeddingCache(tmp_path / "e.sqlite") as cache:
        res = embed_files(files, emb, cache=cache, batch_size=4)
        again = embed_files(files, emb, cache=cache)
    assert not res.errors and res.n_computed == 6 and again.n_cached == 6
    got = res.matrix(files)
    assert got.shape == (6, emb.spec.embed_dim)
    np.testing.assert_allclose(got, direct, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(again.matrix(files), got)
