"""Methods started from another model's Conv-4 encoder (issue 18): frozen head training on a feature
bank, then fine-tuning; Proto-MAML's inner loop; exact resume; the measured score in the sidecar."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.meta.bank import build_feature_bank
from core.meta.checkpoints import (bundled_method_quality, export_slim, load_checkpoint, load_learner,
                                   measured_quality, record_measurement)
from core.meta.datasets import load_omniglot
from core.meta.learners import build_learner
from core.meta.trainer import EpisodicTrainer, TrainConfig

MINI = Path(__file__).resolve().parent.parent / "data" / "omniglot_mini"
QUIET = dict(log=lambda s: None)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A slim ProtoNet checkpoint: the encoder the other methods start from."""
    d = tmp_path_factory.mktemp("enc")
    cfg = TrainConfig(datasets=[str(MINI)], ways=5, shots=1, queries=2, episodes=20, val_every=0, hidden=16,
                      lr=3e-3, seed=1)
    EpisodicTrainer(cfg, "cpu", d / "proto.pt", **QUIET).train()
    return export_slim(d / "proto.pt", d / "proto_slim.pt")


def _cfg(encoder, **kw) -> TrainConfig:
    base = dict(datasets=[str(MINI)], ways=5, shots=1, queries=2, episodes=12, val_every=0, checkpoint_every=4,
                hidden=16, seed=3, init_from=str(encoder), freeze_backbone=6, backbone_lr=0.1, bank_views=2,
                relation_loss="ce", proto_init=True, first_order=True, inner_steps=2, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("method", ["siamese", "siamese:ce", "relation"])
def test_head_trains_on_the_frozen_encoder_then_fine_tunes(tmp_path, encoder, method, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path / "cache"))
    enc = load_checkpoint(encoder)["model"]
    out = tmp_path / "m.pt"
    method, _, loss = method.partition(":")
    res = EpisodicTrainer(_cfg(encoder, method=method, episodes=60, freeze_backbone=40, val_every=20,
                               checkpoint_every=0, siamese_loss=loss or "bce", queries=4,
                               lr=1e-2 if loss else 3e-3), "cpu", out, **QUIET).train()
    losses = [h["loss"] for h in res["history"]]
    assert losses[1] < losses[0], res["history"]  # the head learns while the encoder is frozen
    ck = load_checkpoint(out)
    k = "backbone.encoder.0.0.weight"
    # the encoder started as the ProtoNet's and moved only in the fine-tuning steps
    assert not torch.equal(ck["model"][k], enc[k])
    frozen = EpisodicTrainer(_cfg(encoder, method=method, episodes=10, freeze_backbone=10), "cpu",
                             tmp_path / "f.pt", **QUIET).train()
    assert torch.equal(frozen["learner"].backbone.state_dict()["encoder.0.0.weight"], enc[k])
    assert torch.equal(frozen["learner"].backbone.state_dict()["encoder.0.1.running_mean"],
                       enc["backbone.encoder.0.1.running_mean"])  # eval-mode BatchNorm while frozen
    # the bank was kept for the next run started from this encoder
    assert list((tmp_path / "cache" / "feature_banks").glob("bank-*.npy"))


def test_resume_is_exact_across_the_frozen_and_fine_tuning_phases(tmp_path, encoder, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path / "cache"))
    straight = tmp_path / "straight.pt"
    EpisodicTrainer(_cfg(encoder, method="relation"), "cpu", straight, **QUIET).train()
    for stop in (4, 8):  # inside the frozen phase, and after it
        part = tmp_path / f"part{stop}.pt"
        EpisodicTrainer(_cfg(encoder, method="relation", episodes=stop), "cpu", part, **QUIET).train()
        EpisodicTrainer(_cfg(encoder, method="relation"), "cpu", part, **QUIET).train(resume=part)
        a, b = load_checkpoint(straight)["model"], load_checkpoint(part)["model"]
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs after resume at {stop}")


def test_feature_bank_view_zero_is_the_clean_embedding(encoder):
    learner, _ = load_learner(encoder)
    ds = load_omniglot([MINI])
    bank = build_feature_bank(learner, ds, views=2, seed=0, augment=None)
    from core.meta.sampling import to_input

    with torch.no_grad():
        z = learner.embed(to_input(ds.images[3], ds.store_size, ds.input_size))
    assert bank.images[3].shape == (len(ds.images[3]), 2, 16)
    torch.testing.assert_close(torch.from_numpy(bank.images[3][:, 0]), z, rtol=1e-5, atol=1e-5)


def test_proto_maml_adapts_the_prototype_head_and_lowers_the_support_loss(encoder):
    learner, cfg = load_learner(encoder)
    m = build_learner({**cfg, "method": "maml", "proto_init": True, "first_order": True, "inner_lr": 0.5,
                       "eval_steps": 5})
    m.backbone.load_state_dict(learner.backbone.state_dict())
    m.eval()
    ds = load_omniglot([MINI])
    from core.meta.sampling import to_input

    # 2-shot, 5-way: the support loss of the prototype head is not zero, so there is something to adapt
    xs = torch.cat([to_input(ds.images[c][:2], ds.store_size, 28) for c in range(5)])
    ys = torch.arange(5).repeat_interleave(2)
    with torch.no_grad():
        zs = m.embed(xs)
    w0, b0, _ = m.adapt_head(zs, ys, 5, steps=0)
    w, b, losses = m.adapt_head(zs, ys, 5, steps=5)
    assert not torch.allclose(w, w0) and not torch.allclose(b, b0)
    assert losses[-1] < losses[0] and all(x >= y for x, y in zip(losses, losses[1:])), losses
    # zero steps is exactly the Euclidean ProtoNet
    zq = zs[::2] + 0.1
    proto = learner.logits_z(zs, ys, zq, 5)
    torch.testing.assert_close(torch.softmax(m.logits_z(zs, ys, zq, 5, steps=0), 1), torch.softmax(proto, 1))


def test_proto_maml_trains_its_encoder_and_any_way_works(tmp_path, encoder, monkeypatch):
    monkeypatch.setenv("FEWLENS_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "maml.pt"
    res = EpisodicTrainer(_cfg(encoder, method="maml", episodes=40, freeze_backbone=0, backbone_lr=1.0,
                               queries=2, val_every=20, checkpoint_every=0), "cpu", out, **QUIET).train()
    assert res["history"][-1]["loss"] < res["history"][0]["loss"], res["history"]
    learner, cfg = load_learner(out)
    assert cfg["proto_init"] and learner.head is None
    xs, xq = torch.rand(7, 1, 28, 28), torch.rand(7, 1, 28, 28)
    assert learner.logits(xs, torch.arange(7), xq, 7).shape == (7, 7)  # 7-way from a 5-way training


def test_init_from_names_an_encoder_that_does_not_fit(tmp_path, encoder, capsys):
    rc = main(["meta-train", "--dataset", str(MINI), "--method", "relation", "--ways", "5", "--queries", "1",
               "--episodes", "1", "--val-every", "0", "--init-from", str(encoder), "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert rc != 0 and str(encoder) in err and "hidden=16" in err and "Traceback" not in err


def test_lake_record_stores_the_score_with_its_interval(tmp_path, encoder, capsys):
    from test_meta_lake import _make_runs

    ck = tmp_path / "proto.pt"
    shutil.copy(encoder, ck)
    shutil.copy(encoder.with_suffix(".json"), ck.with_suffix(".json"))
    zp, _ = _make_runs(tmp_path, same_drawing=False)
    assert main(["omniglot-lake", "--runs", str(zp), "--backbone", str(ck), "--json", "--record"]) == 0
    res = json.loads(capsys.readouterr().out)
    q = measured_quality(ck)
    assert q["lake_error_pct"] == res["error_pct"] and q["queries"] == 10
    lo, hi = q["lake_error_ci95_pct"]
    assert lo <= res["error_pct"] <= hi and hi - lo > 10  # 10 queries: a wide interval
    # the record belongs to these weights: other bytes, no score
    ck.write_bytes(ck.read_bytes() + b"\0")
    assert measured_quality(ck) is None
    # a record is refused where it would not be the comparable number
    assert main(["omniglot-lake", "--runs", str(zp), "--backbone", str(encoder), "--transductive", "--record"]) != 0
    assert "--record" in capsys.readouterr().err


def test_lake_record_of_an_ensemble_keeps_the_single_models_score(tmp_path, encoder, capsys):
    from test_meta_lake import _make_runs

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for ck in (a, b):
        shutil.copy(encoder, ck)
    record_measurement(a, {"lake_error_pct": 9.5})
    zp, _ = _make_runs(tmp_path, same_drawing=False)
    assert main(["omniglot-lake", "--runs", str(zp), "--backbone", f"{a},{b}", "--json", "--record"]) == 0
    res = json.loads(capsys.readouterr().out)
    doc = json.loads(a.with_suffix(".json").read_text())
    assert doc["measured"] == {"lake_error_pct": 9.5} and measured_quality(a) == {"lake_error_pct": 9.5}
    ens = doc["measured_ensemble"]
    assert ens["lake_error_pct"] == res["error_pct"] and ens["members"] == [str(a), str(b)]
    assert len(ens["members_sha256"]) == 2 and not b.with_suffix(".json").exists()  # only the first member's sidecar


def test_record_measurement_survives_in_the_sidecar_config(tmp_path, encoder):
    ck = tmp_path / "m.pt"
    shutil.copy(encoder, ck)
    record_measurement(ck, {"lake_error_pct": 9.5})
    doc = json.loads(ck.with_suffix(".json").read_text())
    assert doc["config"]["method"] == "protonet" and doc["measured"]["lake_error_pct"] == 9.5
    assert bundled_method_quality("no-such-method") is None


def test_half_export_is_smaller_and_scores_the_same(tmp_path, encoder):
    full = load_checkpoint(encoder)
    src = tmp_path / "full.pt"
    from core.meta.checkpoints import save_checkpoint

    save_checkpoint({"config": full["config"], "model": full["model"], "episode": 1}, src)
    half = export_slim(src, tmp_path / "half.pt", half=True)
    float_bytes = sum(v.numel() * 4 for v in full["model"].values() if v.is_floating_point())
    assert src.stat().st_size - half.stat().st_size > 0.45 * float_bytes  # the weights take half the bytes
    a, _ = load_learner(src)
    b, _ = load_learner(half)
    assert next(b.parameters()).dtype == torch.float32  # cast back on load
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(a.embed(x), b.embed(x), rtol=2e-2, atol=2e-2)
    assert json.loads(load_checkpoint(half)["config"]["export"])["stored_dtype"] == "float16"
