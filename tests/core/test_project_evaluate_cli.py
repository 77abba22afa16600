"""``fewlens project evaluate`` as a user runs it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.cli import main
from core.methods import get_method
from core.project import Project


@pytest.fixture
def project(tmp_path, data_dir):
    src = tmp_path / "src"
    for cls in ("Hat", "Pants", "Shoes"):
        (src / cls).mkdir(parents=True)
        files = sorted((data_dir / "clothing_mini" / cls).iterdir())
        for f in files[:4]:
            shutil.copy(f, src / cls / f.name)
        for f in files[4:6]:
            shutil.copy(f, src / f"{cls}_{f.name}")  # loose: unlabeled
    out = tmp_path / "p.fewlens"
    assert main(["project", "create", str(out), "--from", str(src), "--embed", "--device", "cpu"]) == 0
    return out


def test_evaluate_json_is_a_leave_one_out_on_the_labels(project, capsys):
    capsys.readouterr()
    assert main(["project", "evaluate", str(project), "--method", "protonet", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    with Project.open(project) as p:
        recs = p.images()
        vecs = p.embedding_cache.get_many([r.hash for r in recs], "mobilenet_v2_imagenet")
    lab = [r for r in recs if r.class_id is not None]
    x = np.stack([vecs[r.hash] for r in lab])
    y = np.array([r.class_id for r in lab])
    right = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        m = get_method("protonet").process_support_set(x[keep], y[keep])
        right += int(m.classes_[m.predict_proba(x[i : i + 1]).argmax()] == y[i])
    assert d["labels"] == d["scored"] == 12
    assert d["accuracy"] == pytest.approx(right / 12, abs=1e-4)
    assert [c["name"] for c in d["classes"]] == ["Hat", "Pants", "Shoes"]
    cm = np.array(d["confusion"]["rows_true_columns_predicted"])
    assert cm.sum() == 12 and cm.trace() == right


def test_evaluate_text_and_the_auto_choice(project, capsys):
    capsys.readouterr()
    assert main(["project", "evaluate", str(project), "--method", "auto"]) == 0
    out = capsys.readouterr().out
    assert "Estimated accuracy" in out and "from 12 labels" in out
    assert "Using prototypes" in out
    assert "confusion" in out and "Shoes" in out


def test_evaluate_without_labels_is_one_clear_line(tmp_path, data_dir, capsys):
    src = tmp_path / "loose"
    src.mkdir()
    for f in sorted((data_dir / "clothing_mini" / "Hat").iterdir())[:2]:
        shutil.copy(f, src / f.name)
    out = tmp_path / "u.fewlens"
    assert main(["project", "create", str(out), "--from", str(src)]) == 0
    capsys.readouterr()
    rc = main(["project", "evaluate", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) <= 2 and "no labeled images" in err[-1] and str(out) in err[-1]
