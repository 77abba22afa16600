"""core.embedding_cache: the SQLite table, WAL, float32 round trip, corrupt files."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from core.embedding_cache import EmbeddingCache
from core.errors import ProjectError


def test_round_trip_and_schema(tmp_path):
    db = tmp_path / "e.sqlite"
    rng = np.random.default_rng(0)
    vecs = {f"h{i}": rng.normal(size=1280).astype(np.float32) for i in range(2000)}  # > one IN() chunk
    with EmbeddingCache(db) as c:
        c.put_many("mobilenet_v2_imagenet", vecs)
        c.put_many("other", {"h0": np.ones(4, np.float32)})
        got = c.get_many(list(vecs) + ["absent"], "mobilenet_v2_imagenet")
        assert set(got) == set(vecs)
        for h, v in vecs.items():
            np.testing.assert_array_equal(got[h], v)
            assert got[h].dtype == np.float32
        assert c.get("h0", "other").tolist() == [1, 1, 1, 1]
        assert c.get("absent", "other") is None
        assert c.count("mobilenet_v2_imagenet") == 2000 and c.count() == 2001
        # replacing a vector keeps one row
        c.put_many("other", {"h0": np.zeros(4, np.float32)})
        assert c.count("other") == 1 and c.get("h0", "other").sum() == 0
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in con.execute("PRAGMA table_info(embeddings)")]
    assert cols == ["hash", "backbone", "vec"]
    blob = con.execute("SELECT vec FROM embeddings WHERE hash='h1' AND backbone='mobilenet_v2_imagenet'").fetchone()[0]
    assert len(blob) == 1280 * 4
    con.close()


def test_shared_connection_inside_a_project_transaction(tmp_path):
    con = sqlite3.connect(tmp_path / "p.fewlens", isolation_level=None, check_same_thread=False)
    cache = EmbeddingCache(connection=con)
    con.execute("BEGIN")
    cache.put_many("b", {"x": np.arange(3, dtype=np.float32)})
    con.execute("ROLLBACK")  # the project's transaction decides
    assert cache.get("x", "b") is None
    cache.put_many("b", {"x": np.arange(3, dtype=np.float32)})
    assert cache.get("x", "b").tolist() == [0, 1, 2]
    cache.close()  # does not close the caller's connection
    assert con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1


def test_concurrent_writers_from_threads(tmp_path):
    with EmbeddingCache(tmp_path / "t.sqlite") as c:
        def work(k):
            for i in range(50):
                c.put_many("b", {f"{k}-{i}": np.full(8, k, np.float32)})
                assert c.get(f"{k}-{i}", "b") is not None
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert c.count("b") == 200


def test_corrupt_file_names_the_file(tmp_path):
    bad = tmp_path / "embeddings.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectError) as ei:
        EmbeddingCache(bad)
    assert str(bad) in str(ei.value) and "not an embedding cache" in str(ei.value)


def test_default_cache_recovers_from_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path))
    (tmp_path / "embeddings.sqlite").write_bytes(b"garbage" * 1000)
    with EmbeddingCache.default() as c:
        c.put_many("b", {"h": np.ones(2, np.float32)})
        assert c.count() == 1
    assert list(tmp_path.glob("embeddings.sqlite.corrupt-*"))


def test_backbone_fingerprint_change_drops_vectors(tmp_path):
    with EmbeddingCache(tmp_path / "f.sqlite") as c:
        assert c.check_backbone("b", "v1") is False
        c.put_many("b", {"h": np.ones(2, np.float32)})
        c.put_many("keep", {"h": np.ones(2, np.float32)})
        assert c.check_backbone("b", "v1") is False and c.count("b") == 1
        assert c.check_backbone("b", "v2") is True
        assert c.count("b") == 0 and c.count("keep") == 1


def test_attaching_to_a_connection_mid_transaction_does_not_commit_it(tmp_path):
    con = sqlite3.connect(tmp_path / "p.fewlens", isolation_level=None)
    con.execute("CREATE TABLE labels(x)")
    con.execute("BEGIN")
    con.execute("INSERT INTO labels VALUES (1)")
    EmbeddingCache(connection=con)
    assert con.in_transaction
    con.execute("ROLLBACK")
    assert con.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0


def test_write_failure_is_a_clear_error(tmp_path):
    db = tmp_path / "ro.sqlite"
    with EmbeddingCache(db) as c:
        c.put_many("b", {"h": np.ones(2, np.float32)})
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    c = EmbeddingCache(connection=con)  # e.g. a project opened from a read-only share
    assert c.get("h", "b").tolist() == [1, 1]
    with pytest.raises(ProjectError, match="cannot write the embedding cache"):
        c.put_many("b", {"x": np.ones(2, np.float32)})


def test_a_locked_cache_is_not_mistaken_for_a_corrupt_one(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path))
    path = tmp_path / "embeddings.sqlite"
    EmbeddingCache(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")  # another process switching modes holds the lock
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _real_connect(*a, **{**k, "timeout": 0.1}))
    try:
        with pytest.raises(ProjectError, match="cannot open the embedding cache"):
            EmbeddingCache.default()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))


_real_connect = sqlite3.connect
