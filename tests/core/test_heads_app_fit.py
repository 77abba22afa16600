"""The app's fit as an exportable head: the project's confidence factor and ``auto``'s choice.

The session's Recognizer (core.recognizer_build.recognizer_from_rows) fits with core.fitting.fit_rows,
which wraps the method in the gallery's calibrated confidence; Export writes that head, so its
probabilities must be the ones the gallery shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.fitting import UNLABELED, fit_rows
from core.heads import head_from_method
from core.methods.calibration import Calibrated


def _rows(seed=0, d=32, per=6, classes=(3, 7, 9), pool=20):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((len(classes), d)) * 2
    x, y = [], []
    for c, mu in zip(classes, centers):
        x.append(mu + rng.standard_normal((per, d)))
        y += [c] * per
    x.append(rng.standard_normal((pool, d)) + centers[rng.integers(0, len(classes), pool)])
    y += [UNLABELED] * pool
    return np.concatenate(x).astype(np.float32), np.asarray(y, np.int64)


@pytest.mark.parametrize("method", ["softkmeans", "protonet", "linear_probe", "maml", "siamese", "relation", "auto"])
@pytest.mark.parametrize("factor", [1.0, 0.6])
def test_the_head_of_the_apps_fit_gives_its_probabilities(method, factor):
    x, y = _rows()
    fitted = fit_rows(method, x, np.ones(len(x), bool), y, confidence_factor=factor)
    assert isinstance(fitted, Calibrated) == (factor != 1.0)
    head = head_from_method(fitted)
    q = x[y == UNLABELED]
    np.testing.assert_allclose(head.probs(q), fitted.predict_proba(q), atol=1e-4)
    assert list(fitted.classes_) == [3, 7, 9]


def test_recognizer_from_rows_names_columns_by_class_id_and_says_what_cannot_export():
    from core.backbones import get_backbone
    from core.recognizer_build import recognizer_from_rows

    x, y = _rows(d=1280)
    spec = get_backbone("mobilenet_v2_imagenet")
    classes = [(9, "Nine", "#000000"), (3, "Three", "#111111"), (7, "Seven", "#222222"), (5, "Empty", "#333333")]
    rec = recognizer_from_rows("softkmeans", x, np.ones(len(x), bool), y, classes, spec, featurizer=None,
                               threshold=0.3)
    assert rec.class_ids == [3, 7, 9] and rec.class_names == ["Three", "Seven", "Nine"]  # no labels: no column
    assert rec.provenance["labels_per_class"] == {"Three": 6, "Seven": 6, "Nine": 6}
    assert rec.unknown_threshold == 0.3 and rec.head is not None
    p = rec.predict_embeddings(x[y == UNLABELED])
    np.testing.assert_allclose(p.probs, rec.head.probs(x[y == UNLABELED]), atol=1e-4)
    assert recognizer_from_rows("softkmeans", x, np.ones(len(x), bool), np.full(len(x), UNLABELED), classes, spec,
                                None) is None  # nothing labeled yet
