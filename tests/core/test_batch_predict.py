"""Streaming folder prediction to CSV (core.batch, ``fewlens predict -o OUT.csv [--resume]``)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from core.batch import csv_header, iter_image_files, predict_to_csv
from core.cli import main

CLOTHING = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def folders(tmp_path):
    """support/<class>/ with 2 examples each; queries/ with the rest, nested, plus a corrupt file."""
    sup, q = tmp_path / "support", tmp_path / "queries"
    for cls in ("Hat", "Pants", "Shoes"):
        files = sorted((CLOTHING / cls).glob("*.jpg"))
        (sup / cls).mkdir(parents=True)
        (q / "deep" / cls).mkdir(parents=True)
        for f in files[:2]:
            shutil.copy(f, sup / cls / f.name)
        for f in files[2:]:
            shutil.copy(f, q / "deep" / cls / f.name)
    (q / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (q / "notes.txt").write_text("not an image, not listed")
    return sup, q


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _predict(sup, q, out, *extra) -> int:
    return main(["predict", "--support", str(sup), "--images", str(q), "--method", "protonet",
                 "--format", "csv", "-o", str(out), *extra])


def test_csv_rows_for_every_image_and_the_corrupt_one(folders, tmp_path, capsys):
    sup, q = folders
    out = tmp_path / "out.csv"
    assert _predict(sup, q, out) == 1  # a file could not be read: partial failure
    err = capsys.readouterr().err
    assert f"{q / 'broken.jpg'}:" in err and "12 predicted, 1 unreadable" in err
    rows = _rows(out)
    assert rows[0] == csv_header(3)
    by_path = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert set(by_path) == {str(p) for p in iter_image_files([q])} and len(by_path) == 13
    bad = by_path[str(q / "broken.jpg")]
    assert bad["top_class"] == "" and bad["error"]
    good = [r for r in by_path.values() if not r["error"]]
    for r in good:
        probs = [float(r[f"prob_{i}"]) for i in (1, 2, 3)]
        assert r["top_class"] == r["class_1"] and float(r["confidence"]) == probs[0]
        assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 2e-3
        assert (r["backbone"], r["method"], r["unknown"]) == ("mobilenet_v2_imagenet", "protonet", "0")
    right = sum(Path(r["path"]).parent.name == r["top_class"] for r in good)
    assert right >= 8  # 2-shot clothing with ImageNet features: most, not all


def test_resume_after_a_kill_equals_an_uninterrupted_run(folders, tmp_path):
    sup, q = folders
    full = tmp_path / "full.csv"
    _predict(sup, q, full)
    # killed mid-write: 5 whole rows, then half a row
    lines = full.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    _predict(sup, q, cut, "--resume")
    assert cut.read_bytes() == full.read_bytes()
    # resuming a finished file predicts nothing and changes nothing
    _predict(sup, q, cut, "--resume")
    assert cut.read_bytes() == full.read_bytes()


def test_cancel_then_resume_equals_uninterrupted(folders, tmp_path):
    from core.batch_predictors import MethodPredictor
    from core.embedder import Embedder
    from core.methods import get_method
    from core.pipeline import embed_files

    sup, q = folders
    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    files = sorted(sup.rglob("*.jpg"))
    res = embed_files(files, emb)
    method = get_method("protonet")
    method.process_support_set(res.matrix(files), [f.parent.name for f in files])
    pred = MethodPredictor(emb, method, "protonet", cacheable=False)  # no cache: every row computed
    full, part = tmp_path / "full.csv", tmp_path / "part.csv"
    s = predict_to_csv(iter_image_files([q]), pred, full, batch_size=4, workers=2)
    assert (s.predicted, s.n_errors, s.cancelled) == (12, 1, False)
    seen = []
    s = predict_to_csv(iter_image_files([q]), pred, part, batch_size=4, workers=2,
                       progress=lambda done, total: seen.append(done), cancel=lambda: bool(seen) and seen[-1] >= 4)
    assert s.cancelled and 4 <= s.written < 13
    assert full.read_bytes().startswith(part.read_bytes())  # what is there is final
    s = predict_to_csv(iter_image_files([q]), pred, part, resume=True, batch_size=4, workers=2)
    assert s.skipped + s.written == 13 and not s.cancelled
    assert part.read_bytes() == full.read_bytes()


def test_resume_refuses_a_file_with_other_columns(folders, tmp_path, capsys):
    sup, q = folders
    out = tmp_path / "other.csv"
    out.write_text("name,label\nx.jpg,cat\n")
    assert _predict(sup, q, out, "--resume") == 1
    assert f"{out}: written with other columns" in capsys.readouterr().err
    assert out.read_text() == "name,label\nx.jpg,cat\n"  # untouched


def test_second_run_uses_the_embedding_cache(folders, tmp_path, monkeypatch):
    from core.embedding_cache import EmbeddingCache
    from core.batch_predictors import MethodPredictor
    from core.embedder import Embedder
    from core.methods import get_method

    sup, q = folders
    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    method = get_method("protonet")
    import numpy as np

    method.process_support_set(np.eye(3, emb.spec.embed_dim, dtype=np.float32), ["Hat", "Pants", "Shoes"])
    pred = MethodPredictor(emb, method, "protonet")
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = predict_to_csv(iter_image_files([q]), pred, tmp_path / "a.csv", cache=cache)
        calls = []
        monkeypatch.setattr(pred, "embed", lambda b: calls.append(len(b)))
        second = predict_to_csv(iter_image_files([q]), pred, tmp_path / "b.csv", cache=cache)
    assert first.cached == 0 and second.cached == 12 and calls == []
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
