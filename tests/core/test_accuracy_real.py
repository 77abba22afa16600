"""The default method on real photos, through the real embedder: what a user would check first."""

from __future__ import annotations

import numpy as np
import pytest

from core.methods import DEFAULT_METHOD, get_method


@pytest.fixture(scope="module")
def clothing(data_dir):
    from core.embedder import Embedder
    from core.episodes import FolderDataset
    from core.pipeline import embed_files

    ds = FolderDataset.from_folder(data_dir / "clothing_mini")
    res = embed_files(ds.paths, Embedder("mobilenet_v2_imagenet", device="cpu"))
    assert not res.errors
    return ds.with_embeddings(res.embeddings)


def test_default_uses_the_unlabeled_pool():
    assert get_method(DEFAULT_METHOD).uses_unlabeled


@pytest.mark.parametrize("shots", [1, 2])
def test_default_labels_the_rest_of_a_real_folder(clothing, shots):
    ds, feats = clothing
    names = np.asarray(ds.classes)
    hits, plain_hits = [], []
    for first in range(0, 6 - shots + 1):  # every choice of which photos the user labels
        lab = np.concatenate([np.flatnonzero(ds.labels == c)[first : first + shots] for c in range(len(names))])
        rest = np.setdiff1d(np.arange(len(ds.labels)), lab)
        m = get_method(DEFAULT_METHOD).process_support_set(feats[lab], names[ds.labels[lab]], unlabeled=feats[rest])
        pred = m.predict(feats[rest], threshold=0.0)
        hits.append((pred.top == names[ds.labels[rest]]).mean())
        np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-5)
        base = get_method("protonet").process_support_set(feats[lab], names[ds.labels[lab]])
        plain_hits.append((base.predict(feats[rest]).top == names[ds.labels[rest]]).mean())
    # hats, shoes and pants: an easy set, but from one or two photos each
    assert np.mean(hits) >= 0.8
    assert np.mean(hits) >= np.mean(plain_hits) - 0.02
