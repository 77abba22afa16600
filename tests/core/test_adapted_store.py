"""core.adapted_store: the adapted backbone saved in the project, read back, damage and migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from core import adapted_store  # noqa: E402
from core.adaptation import AdaptationSettings, adapt_and_embed  # noqa: E402
from core.images import load_image  # noqa: E402
from core.project import SCHEMA_VERSION, Project  # noqa: E402

BACKBONE = "mobilenet_v2_imagenet"
MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture(scope="module")
def adaptation():
    files, labels = [], []
    for k, d in enumerate(sorted(p for p in MINI.iterdir() if p.is_dir())):
        files += sorted(d.glob("*.jpg"))[:5]
        labels += [k] * 5
    every = sorted(MINI.glob("*/*.jpg"))
    a = adapt_and_embed(BACKBONE, files, labels, every, settings=AdaptationSettings(steps=3, views=2))
    return a, every, np.asarray(labels)


def _save(project, a, every, key="k1"):
    emb = np.stack([a.embeddings[p] for p in every])
    ids = np.arange(1, len(every) + 1)
    labels = np.full(len(every), -1)
    return adapted_store.save(project, key, a.network, ids, labels, a.n_labels, np.zeros(len(every), bool),
                              np.ones(len(every), bool), emb), emb


def test_saved_adaptation_reads_back_the_same_network_and_embeddings(tmp_path, adaptation):
    a, every, _ = adaptation
    with Project.create(tmp_path / "p.fewlens") as p:
        size, emb = _save(p, a, every)
        assert 1e6 < size < 20e6  # the trained stage + 18 vectors, not the whole backbone twice
        assert adapted_store.stored_key(p) == ("k1", BACKBONE)
        assert adapted_store.load(p, "other key") is None
    with Project.open(tmp_path / "p.fewlens") as p:  # a fresh process would see the same
        st = adapted_store.load(p, "k1")
        np.testing.assert_array_equal(st.embeddings, emb)
        assert st.n_labels == 15 and st.have.all() and st.backbone == BACKBONE
        net = st.network()
    assert net.fingerprint == a.network.fingerprint
    imgs = [load_image(f, min_side=256) for f in every[:3]]
    np.testing.assert_allclose(net.embed_images(imgs), a.network.embed_images(imgs), atol=1e-5)
    # a newer adaptation replaces it: one row per project
    with Project.open(tmp_path / "p.fewlens") as p:
        _save(p, a, every, key="k2")
        assert adapted_store.stored_key(p) == ("k2", BACKBONE) and adapted_store.load(p, "k1") is None


@pytest.mark.parametrize("column", ["weights", "rows", "meta"])
def test_a_damaged_row_is_one_line_naming_the_project(tmp_path, adaptation, column):
    a, every, _ = adaptation
    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        _save(p, a, every)
    con = sqlite3.connect(path)
    if column == "meta":
        con.execute(f"UPDATE {adapted_store.TABLE} SET meta = '{{not json'")
    else:  # flip bytes in the middle of the blob: only the checksum notices
        blob = bytearray(con.execute(f"SELECT {column} FROM {adapted_store.TABLE}").fetchone()[0])
        blob[len(blob) // 2] ^= 0xFF
        con.execute(f"UPDATE {adapted_store.TABLE} SET {column} = ?", (bytes(blob),))
    con.commit()
    con.close()
    with Project.open(path) as p:
        with pytest.raises(adapted_store.AdaptedStoreError) as e:
            adapted_store.load(p, "k1")
    msg = str(e.value)
    assert "p.fewlens" in msg and "damaged" in msg and "adapting again" in msg and "\n" not in msg


def test_wrong_weights_for_the_backbone_are_refused_by_the_fingerprint(tmp_path, adaptation):
    a, every, _ = adaptation
    with Project.create(tmp_path / "p.fewlens") as p:
        _save(p, a, every)
        st = adapted_store.load(p, "k1")
    st.fingerprint = "0" * 32
    with pytest.raises(adapted_store.AdaptedStoreError, match="adapting again"):
        st.network()


def test_a_format_2_project_without_the_table_opens_and_gains_it(tmp_path, adaptation):
    path = tmp_path / "old.fewlens"
    with Project.create(path) as p:
        p.add_class("Hat")
    con = sqlite3.connect(path)  # rewrite it as format 2: no adapted_backbones table
    con.executescript(f"""
        DROP TABLE {adapted_store.TABLE};
        UPDATE meta SET value = '2' WHERE key = 'schema_version';
        PRAGMA user_version = 2;""")
    con.close()
    with Project.open(path) as p:
        assert p.meta()["schema_version"] == str(SCHEMA_VERSION) == "3"
        assert [c.name for c in p.classes()] == ["Hat"]
        assert adapted_store.stored_key(p) is None  # nothing saved yet, no error
        a, every, _ = adaptation
        _save(p, a, every)
        assert adapted_store.stored_key(p) == ("k1", BACKBONE)
    assert (tmp_path / "old.fewlens.format2.bak").exists()
