"""``fewlens eval`` on the small clothing fixture with the real default backbone."""

from __future__ import annotations

import json

import pytest

import core.methods
from core.cli import main
from core.methods.protonet import PrototypicalNetwork


def _eval(capsys, *extra):
    rc = main(["eval", "--dataset", str(DATA), "--ways", "3", "--shots", "1", "--queries", "4",
               "--episodes", "40", "--json", *extra])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)


@pytest.fixture(autouse=True)
def _data(data_dir):
    global DATA
    DATA = data_dir / "clothing_mini"


def test_eval_reports_accuracy_with_ci_and_is_reproducible(capsys):
    a = _eval(capsys, "--seed", "1")
    assert a["classes"] == 3 and a["images"] == 18 and a["episodes"] == 40
    assert a["backbone"] == "mobilenet_v2_imagenet" and a["skipped_files"] == []
    # hats, shoes and pants are easy for ImageNet features: far above the 33 % of chance
    assert a["accuracy_pct"] > 70
    assert 0 < a["ci95_pct"] < 15 and 0 <= a["ece_pct"] <= 100
    assert _eval(capsys, "--seed", "1")["accuracy_pct"] == a["accuracy_pct"]


def test_text_output(capsys):
    assert main(["eval", "--dataset", str(DATA), "--ways", "2", "--shots", "2", "--queries", "3",
                 "--episodes", "10"]) == 0
    out = capsys.readouterr().out
    assert "2-way 2-shot, 3 queries/class, 10 episodes, seed 0" in out
    assert "accuracy" in out and "(95% CI)" in out


class Transductive(PrototypicalNetwork):
    """ProtoNet that records how many unlabeled embeddings each episode hands it."""

    uses_unlabeled = True
    seen: list[int] = []

    def _fit(self, x, y, unlabeled):
        Transductive.seen.append(0 if unlabeled is None else len(unlabeled))
        super()._fit(x, y, unlabeled)


def test_unlabeled_pool_reaches_transductive_methods(capsys, monkeypatch):
    real = core.methods.get_method
    monkeypatch.setattr(core.methods, "get_method",
                        lambda name="protonet", **kw: Transductive() if name == "transductive" else real(name, **kw))
    Transductive.seen = []
    doc = _eval(capsys, "--ways", "2", "--method", "transductive", "--unlabeled-pool", "1")
    assert doc["transductive"] is True and doc["unlabeled_pool"] == 1
    # per episode: 1 per class (2) + 2 distractors from the third class + the 2*4 queries
    assert len(Transductive.seen) == 40 and set(Transductive.seen) == {2 + 2 + 8}


def test_eval_errors_name_the_dataset(capsys, tmp_path):
    assert main(["eval", "--dataset", str(DATA), "--ways", "5", "--episodes", "3"]) == 1
    err = capsys.readouterr().err
    assert str(DATA) in err and "needs 5 classes" in err
    assert main(["eval", "--dataset", str(tmp_path / "none"), "--episodes", "3"]) == 1
    assert f"{tmp_path / 'none'}: folder not found" in capsys.readouterr().err


def test_classes_restricts_the_dataset(capsys):
    doc = _eval(capsys, "--ways", "2", "--classes", "Hat", "Shoes")
    assert doc["classes"] == 2 and doc["images"] == 12
    assert main(["eval", "--dataset", str(DATA), "--classes", "Hat", "Socks", "--episodes", "2"]) == 1
    assert "no class folder named 'Socks'" in capsys.readouterr().err


def test_image_level_method_is_refused_with_a_clear_message(capsys):
    # fine-tuning needs pixels; running it on embeddings would silently be another method
    assert main(["eval", "--dataset", str(DATA), "--method", "finetune", "--episodes", "3"]) == 1
    err = capsys.readouterr().err
    assert "finetune" in err and "cannot run on cached embeddings" in err and "softkmeans" in err
