"""The adapted backbone is saved in the project: reopening it predicts with it at once.

Real window, clothing_mini (3 classes x 6 photos), real MobileNetV2 adaptation made cheap
(2 steps, 2 views).  After the adaptation lands, the window is closed and the project reopened:
the predictions come back from the stored network and embeddings, with no AdaptJob.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("torch")

from app.jobs.adapt import AdaptJob, RestoreAdaptedJob  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core import adapted_store  # noqa: E402
from core.adaptation import AdaptationSettings  # noqa: E402
from core.images import file_hash  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


def idle(w: MainWindow) -> bool:
    s = w.session
    return not w.jobs and s.pending_embeddings == 0 and s.predictions_current


def open_window(qtbot, path: Path) -> MainWindow:
    w = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(w)
    w.adapter.settings = AdaptationSettings(steps=2, views=2)
    w.adapter.timer.setInterval(300)
    w.show()
    return w


@pytest.fixture
def made(monkeypatch) -> list:
    """Every AdaptJob / RestoreAdaptedJob the adapter makes, from the window's first moment on
    (it restores while the window is being built)."""
    import app.adapter as adapter

    jobs: list = []
    for name in ("AdaptJob", "RestoreAdaptedJob"):
        cls = getattr(adapter, name)

        def init(self, *a, _cls=cls, **k):
            _cls.__init__(self, *a, **k)
            jobs.append(self)

        monkeypatch.setattr(adapter, name, type(name, (cls,), {"__init__": init}))
    return jobs


@pytest.fixture
def adapted_project(qtbot, tmp_path, monkeypatch, made):
    """A project with 5 labels per class whose adaptation has landed; returns (path, probs, fingerprint)."""
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    photos = tmp_path / "photos"
    shutil.copytree(MINI, photos)
    path = tmp_path / "p.fewlens"
    with Project.create(path) as p:
        for name in ("Hat", "Pants", "Shoes"):
            cid = p.add_class(name)
            ids = p.add_images([(f, file_hash(f)) for f in sorted((photos / name).glob("*.jpg"))])
            p.set_labels(ids[:5], cid)
    w = open_window(qtbot, path)
    s = w.session
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=120_000)
    assert [type(j).__name__ for j in made] == ["AdaptJob"]
    made.clear()
    assert adapted_store.stored_key(s.project) == (s.adapted.key, s.backbone)
    probs, fingerprint = s.pred.probs.copy(), s.adapted.fingerprint
    w.close()
    return path, probs, fingerprint


def test_reopening_predicts_with_the_saved_adaptation_without_adapting(qtbot, adapted_project, made):
    path, probs, fingerprint = adapted_project
    w = open_window(qtbot, path)
    s = w.session
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)
    assert [type(j).__name__ for j in made] == ["RestoreAdaptedJob"]  # read back, never adapted again
    assert s.adapted.fingerprint == fingerprint
    np.testing.assert_allclose(s.pred.probs, probs, atol=1e-6)  # the same predictions as before closing
    qtbot.waitUntil(lambda: w.status_features.text() == "Features adapted to 15 labels", timeout=2_000)
    # the session's Recognizer embeds new photos with the restored network, as the gallery did
    rec = s.recognizer()
    assert rec.adapted is s.adapted.network
    row = 5  # an unlabeled photo (the 6th Hat)
    got = rec.predict_images([Path(s.files[row])])
    cols = [list(s.pred.class_ids).index(c) for c in rec.class_ids]
    np.testing.assert_allclose(got.probs[0], s.pred.probs[row][cols], atol=1e-3)
    w.close()


def test_a_damaged_saved_adaptation_says_so_and_adapts_again(qtbot, adapted_project, made):
    path, probs, _ = adapted_project
    con = sqlite3.connect(path)
    con.execute(f"UPDATE {adapted_store.TABLE} SET rows = zeroblob(64)")
    con.commit()
    con.close()
    messages: list = []
    w = open_window(qtbot, path)
    w.statusBar().messageChanged.connect(messages.append)
    s = w.session
    qtbot.waitUntil(lambda: any(isinstance(j, AdaptJob) for j in made), timeout=30_000)
    assert isinstance(made[0], RestoreAdaptedJob) and made[0].notice
    assert "p.fewlens" in made[0].notice and "damaged" in made[0].notice and "adapting again" in made[0].notice
    assert any("damaged" in m for m in messages)
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=120_000)
    assert s.labeled_count == 15  # no label lost
    assert s.pred.probs.shape == probs.shape
    w.close()


def test_one_more_label_after_it_landed_still_reopens_without_adapting(qtbot, adapted_project, made):
    path, _, fingerprint = adapted_project
    w = open_window(qtbot, path)
    s = w.session
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)
    hat = next(c.id for c in s.classes if c.name == "Hat")
    s.set_labels([int(s.ids[5])], hat)  # a 6th Hat: the method refits on the adapted features, no new adaptation
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    probs = s.pred.probs.copy()
    w.close()
    made.clear()
    w = open_window(qtbot, path)
    s = w.session
    qtbot.waitUntil(lambda: s.adapted_in_use and idle(w), timeout=60_000)
    assert [type(j).__name__ for j in made] == ["RestoreAdaptedJob"] and s.adapted.fingerprint == fingerprint
    assert s.labeled_count == 16
    np.testing.assert_allclose(s.pred.probs, probs, atol=1e-6)
    w.close()
