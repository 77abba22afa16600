"""core.pipeline.embed_files with a counting fake embedder: caching, bad files, duplicates, progress, cancel."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.embedding_cache import EmbeddingCache
from core.errors import Cancelled
from core.pipeline import embed_files


@dataclass
class FakeSpec:
    id: str = "fake_backbone"
    input_size: int = 32
    resize_size: int = 36
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.25, 0.25, 0.25)
    embed_dim: int = 3
    weights: str = "w1"

    def weights_id(self) -> str:
        return self.weights


class CountingEmbedder:
    """Embedding = mean colour; counts every image it is asked to embed."""

    def __init__(self, spec: FakeSpec | None = None):
        self.spec = spec or FakeSpec()
        self.calls: list[int] = []
        self.lock = threading.Lock()

    @property
    def n_embedded(self) -> int:
        return sum(self.calls)

    def embed_batch(self, x: np.ndarray) -> np.ndarray:
        assert x.ndim == 4 and x.shape[1] == 3
        self.calls.append(len(x))
        return x.mean((2, 3)).astype(np.float32)

    def embed_images(self, imgs) -> np.ndarray:
        self.calls.append(len(imgs))
        return np.stack([np.asarray(i.convert("RGB"), np.float32).mean((0, 1)) / 255 for i in imgs])


def _make_images(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        rng = np.random.default_rng(i)
        colour = rng.integers(0, 256, 3)
        a = np.clip(colour + rng.normal(0, 10, (48, 64, 3)), 0, 255).astype(np.uint8)
        p = folder / f"img_{i:03d}.{'png' if i % 3 == 0 else 'jpg'}"
        Image.fromarray(a).save(p)
        out.append(p)
    return out


def test_embeds_every_file_and_reopening_does_not_recompute(tmp_path):
    files = _make_images(tmp_path / "photos", 20)
    db = tmp_path / "cache.sqlite"
    emb = CountingEmbedder()
    with EmbeddingCache(db) as cache:
        first = embed_files(files, emb, cache=cache, batch_size=8)
    assert set(first.embeddings) == set(files) and not first.errors
    assert first.n_computed == 20 and first.n_cached == 0
    assert emb.n_embedded == 20 and max(emb.calls) <= 8
    # "reopen the folder" in a new session: new cache object, new embedder
    emb2 = CountingEmbedder()
    with EmbeddingCache(db) as cache:
        second = embed_files(files, emb2, cache=cache, batch_size=8)
    assert emb2.n_embedded == 0
    assert second.n_cached == 20 and second.n_computed == 0
    for f in files:
        np.testing.assert_array_equal(first.embeddings[f], second.embeddings[f])
        assert first.hashes[f] == second.hashes[f]
    # a new image in the folder: only it is computed
    files += _make_images(tmp_path / "photos", 1, start=20)
    emb3 = CountingEmbedder()
    with EmbeddingCache(db) as cache:
        third = embed_files(files, emb3, cache=cache)
    assert emb3.n_embedded == 1 and third.n_cached == 20


def test_embeddings_reflect_image_content(tmp_path):
    files = _make_images(tmp_path, 6)
    res = embed_files(files, CountingEmbedder())
    m = res.matrix(files)
    assert m.shape == (6, 3) and m.dtype == np.float32
    # different colours -> different vectors; order follows the paths
    assert len({tuple(np.round(r, 4)) for r in m}) == 6


def test_bad_files_are_reported_and_the_batch_goes_on(tmp_path):
    good = _make_images(tmp_path, 5)
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    empty = tmp_path / "empty.png"
    empty.touch()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[1].read_bytes()[:200])
    missing = tmp_path / "gone.jpg"
    seen = []
    res = embed_files([good[0], text, good[1], empty, cut, missing, *good[2:]], CountingEmbedder(),
                      progress=lambda d, t: seen.append((d, t)), batch_size=2)
    assert set(res.embeddings) == set(good)
    reasons = {Path(e.path).name: e.reason for e in res.errors}
    assert reasons == {"notes.jpg": "not an image (or an unsupported format)", "empty.png": "empty file",
                       "cut.jpg": "truncated / corrupt image data", "gone.jpg": "file not found"}
    for e in res.errors:
        assert e.path in str(e)
    assert seen[-1] == (9, 9)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_duplicate_files_are_embedded_once(tmp_path):
    (a,) = _make_images(tmp_path / "a", 1)
    b = tmp_path / "copy_of_a.png"
    b.write_bytes(a.read_bytes())
    emb = CountingEmbedder()
    res = embed_files([a, b, a], emb)
    assert emb.n_embedded == 1
    assert list(res.embeddings) and set(res.embeddings) == {a, b}
    np.testing.assert_array_equal(res.embeddings[a], res.embeddings[b])
    assert res.hashes[a] == res.hashes[b]


def test_cancel_raises_and_keeps_finished_batches(tmp_path):
    files = _make_images(tmp_path, 24)
    db = tmp_path / "c.sqlite"
    state = {"done": 0}
    emb = CountingEmbedder()
    with EmbeddingCache(db) as cache, pytest.raises(Cancelled):
        embed_files(files, emb, cache=cache, batch_size=4,
                    progress=lambda d, t: state.update(done=d), cancel=lambda: state["done"] >= 8)
    assert 8 <= emb.n_embedded < 24
    with EmbeddingCache(db) as cache:
        kept = cache.count("fake_backbone")
        assert kept == emb.n_embedded
        emb2 = CountingEmbedder()
        res = embed_files(files, emb2, cache=cache)
    assert res.n_cached == kept and emb2.n_embedded == 24 - kept


def test_changed_weights_invalidate_cached_vectors(tmp_path):
    files = _make_images(tmp_path, 3)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        embed_files(files, CountingEmbedder(), cache=cache)
        emb = CountingEmbedder(FakeSpec(weights="w2"))  # same id, re-exported weights
        res = embed_files(files, emb, cache=cache)
    assert emb.n_embedded == 3 and res.n_cached == 0


def test_empty_input(tmp_path):
    res = embed_files([], CountingEmbedder())
    assert res.embeddings == {} and res.errors == []


class DictCache:
    """The minimal cache contract (get_many / put_many), as a project file's cache view offers."""

    def __init__(self):
        self.store: dict[tuple[str, str], np.ndarray] = {}
        self.threads: set[str] = set()

    def get_many(self, hashes, backbone_id):
        self.threads.add(threading.current_thread().name)
        return {h: self.store[(h, backbone_id)] for h in hashes if (h, backbone_id) in self.store}

    def put_many(self, backbone_id, vecs):
        self.threads.add(threading.current_thread().name)
        self.store.update({(h, backbone_id): v for h, v in vecs.items()})


def test_works_with_any_cache_offering_get_many_put_many(tmp_path):
    files = _make_images(tmp_path, 7)
    cache = DictCache()
    embed_files(files, CountingEmbedder(), cache=cache, batch_size=3)
    emb = CountingEmbedder()
    res = embed_files(files, emb, cache=cache)
    assert emb.n_embedded == 0 and res.n_cached == 7
    # lookups and writes happen on the caller's thread (per-thread SQLite connections)
    assert cache.threads == {threading.current_thread().name}


def test_preprocessing_version_bump_invalidates(tmp_path, monkeypatch):
    import core.preprocess

    files = _make_images(tmp_path, 2)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        embed_files(files, CountingEmbedder(), cache=cache)
        monkeypatch.setattr(core.preprocess, "PREPROCESS_VERSION", "test-bump", raising=False)
        emb = CountingEmbedder()
        embed_files(files, emb, cache=cache)
    assert emb.n_embedded == 2
