"""Transductive soft k-means for meta-trained ProtoNets (core.meta.transductive) and its CLI flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.cli import main
from core.meta.transductive import SoftKMeans
from test_meta_lake import _make_runs, tiny_checkpoint  # noqa: F401  (fixture reused)


def _clustered_task(rng: np.random.Generator, ways: int = 10, queries: int = 4, dim: int = 16):
    """One labeled example per class, far from its class centre; the unlabeled queries sit close to it."""
    centres = rng.normal(0, 1.0, (ways, dim))
    zs = centres + rng.normal(0, 1.0, (ways, dim))
    yq = np.repeat(np.arange(ways), queries)
    zq = centres[yq] + rng.normal(0, 0.3, (len(yq), dim))
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return t(zs), torch.arange(ways), t(zq), torch.tensor(yq)


def _accuracy(refiner: SoftKMeans, tasks) -> float:
    return float(np.mean([(refiner.logits(zs, ys, zq, len(zs)).argmax(1) == yq).float().mean().item()
                          for zs, ys, zq, yq in tasks]))


def test_refinement_beats_plain_prototypes_on_clustered_tasks():
    rng = np.random.default_rng(0)
    tasks = [_clustered_task(rng) for _ in range(40)]
    inductive = _accuracy(SoftKMeans(iterations=0), tasks)
    transductive = _accuracy(SoftKMeans(iterations=10, temperature=2.0, weight=5.0), tasks)
    # measured: 85 % -> 97 %; the queries pull each prototype back to its class centre
    assert transductive >= inductive + 0.08, (inductive, transductive)


def test_zero_iterations_is_the_protonet():
    zs, ys, zq, _ = _clustered_task(np.random.default_rng(1))
    plain = -torch.cdist(zq, zs).pow(2)  # one shot per class: prototypes are the support embeddings
    assert torch.allclose(SoftKMeans(iterations=0).logits(zs, ys, zq, len(zs)), plain)
    assert torch.allclose(SoftKMeans(iterations=5, weight=0.0).logits(zs, ys, zq, len(zs)), plain)


def test_prototypes_stay_put_without_queries():
    zs, ys, _, _ = _clustered_task(np.random.default_rng(2))
    protos = SoftKMeans(iterations=5).prototypes(zs, ys, zs[:0], len(zs))
    assert torch.allclose(protos, zs)


def test_spec_parsing_and_bad_values():
    assert SoftKMeans.parse("it=7,t=0.5") == SoftKMeans(iterations=7, temperature=0.5, weight=1.0)
    assert SoftKMeans.parse("it=10,t=2,w=5").label() == "it=10,t=2,w=5"
    with pytest.raises(ValueError, match="it=N"):
        SoftKMeans.parse("iters=3")
    with pytest.raises(ValueError):
        SoftKMeans(temperature=0.0)


def test_lake_command_transductive_flag(tmp_path, tiny_checkpoint, capsys):  # noqa: F811
    zp, _ = _make_runs(tmp_path, same_drawing=True)
    assert main(["omniglot-lake", "--runs", str(zp), "--backbone", str(tiny_checkpoint), "--transductive",
                 "--episodes", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["transductive"] == "it=10,t=2,w=5" and res["queries"] == 10
    assert res["error_pct"] == 0.0  # the test drawings are the training drawings: refinement must not break that
    zp2, _ = _make_runs(tmp_path, same_drawing=False)
    assert main(["omniglot-lake", "--runs", str(zp2), "--backbone", str(tiny_checkpoint), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["transductive"] is None


def test_lake_command_transductive_needs_a_protonet_head(tmp_path, tiny_checkpoint, capsys):  # noqa: F811
    zp, _ = _make_runs(tmp_path, same_drawing=False)
    rc = main(["omniglot-lake", "--runs", str(zp), "--backbone", str(tiny_checkpoint), "--method", "linear_probe",
               "--transductive"])
    assert rc == 1 and "--method softkmeans" in capsys.readouterr().err


def test_default_backbone_is_the_ensemble_of_the_methods_bundled_models():
    from core.commands.lake import default_backbone

    bundled = {k: None for k in ("omniglot_conv4_maml", "omniglot_conv4_protonet_s1", "omniglot_conv4_protonet",
                                 "omniglot_conv4_relation", "omniglot_conv4_siamese_s2", "omniglot_conv4_siamese",
                                 "omniglot_conv4_siamese_s1")}
    assert default_backbone("protonet", bundled) == "omniglot_conv4_protonet,omniglot_conv4_protonet_s1"
    assert default_backbone("native", bundled) == "omniglot_conv4_protonet,omniglot_conv4_protonet_s1"
    # the method's own model first, then its siblings in name order
    assert default_backbone("siamese", bundled) == "omniglot_conv4_siamese,omniglot_conv4_siamese_s1,omniglot_conv4_siamese_s2"
    assert default_backbone("relation", bundled) == "omniglot_conv4_relation"
    assert default_backbone("linear_probe", bundled) == "omniglot_conv4_protonet"
    # siblings without the method's own model are not a default: the single ProtoNet
    assert default_backbone("siamese", {"omniglot_conv4_protonet": None, "omniglot_conv4_siamese_s1": None}) == \
        "omniglot_conv4_protonet"
