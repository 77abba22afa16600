"""Episodic meta-training: datasets, learners, MAML machinery, exact resume, checkpoints, DDP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ModelFileError
from core.meta.checkpoints import load_checkpoint, load_learner
from core.meta.datasets import load_omniglot
from core.meta.functional import FunctionalLearner
from core.meta.learners import MAMLLearner, build_learner
from core.meta.trainer import EpisodicTrainer, TrainConfig

MINI = Path(__file__).parents[1] / "data" / "omniglot_mini"
REPO = Path(__file__).resolve().parents[2]


def _zip_fixture(tmp_path, alphabets=("Latin", "Balinese"), name="mini.zip") -> Path:
    zp = tmp_path / name
    with zipfile.ZipFile(zp, "w") as z:
        for f in sorted(MINI.rglob("*.png")):
            rel = f.relative_to(MINI)
            if rel.parts[0] in alphabets:
                z.write(f, f"images_background_small1/{rel.as_posix()}")
    return zp


def _cfg(**kw) -> TrainConfig:
    base = dict(datasets=[str(MINI)], method="protonet", ways=5, shots=1, queries=1, episodes=10, seed=3,
                val_every=0, checkpoint_every=5, hidden=16, within_group=0.5)
    base.update(kw)
    return TrainConfig(**base)


def test_omniglot_zip_and_folder_agree_and_merge_dedupes(tmp_path):
    folder = load_omniglot([MINI])
    assert len(folder) == 10 and sorted(set(folder.groups)) == ["Balinese", "Latin"]
    assert folder.images[0].shape == (6, 1, 56, 56) and folder.images[0].dtype == np.uint8
    # ink maps: strokes bright on a dark background
    assert folder.images[0].mean() < 60
    zp = _zip_fixture(tmp_path)
    z = load_omniglot([zp])
    assert z.class_names == folder.class_names
    np.testing.assert_array_equal(z.images[3], folder.images[3])
    # Latin is in both sources: merged once
    merged = load_omniglot([zp, _zip_fixture(tmp_path, ("Latin",), "latin.zip")])
    assert len(merged) == 10
    rot = folder.with_rotations()
    assert len(rot) == 40
    np.testing.assert_array_equal(rot.images[10], np.rot90(folder.images[0], 1, axes=(2, 3)))
    tr, va = folder.split_by_group(["Balinese"])
    assert set(va.groups) == {"Balinese"} and "Balinese" not in tr.groups


@pytest.mark.parametrize("method", ["protonet", "relation"])
def test_channels_last_steps_compute_the_same_loss_and_gradients(method, tmp_path):
    """The CPU default keeps the weights channels-last (faster): a training step must be the same math."""
    import copy

    ds = load_omniglot([MINI])
    x = torch.from_numpy(np.stack([im[0] for im in ds.images[:5]]).astype(np.float32)[:, :, ::2, ::2] / 255.0)
    xs, xq = x, x.flip(-1)  # 5 classes x 1 support, the mirrored drawings as queries
    y = torch.arange(5)
    a = build_learner({"method": method, "in_channels": 1, "hidden": 16, "input_size": 28, "ways": 5}).train()
    b = copy.deepcopy(a).to(memory_format=torch.channels_last)
    conv = next(p for p in b.parameters() if p.ndim == 4 and p.shape[1] > 1)  # (1-channel convs: both layouts agree)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    (la, _), (lb, _) = a(xs, y, xq, y, 5), b(xs, y, xq, y, 5)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-5)
    # the whole gradient agrees to float32 rounding: the convolutions sum in another order (and, with
    # several threads, in a thread-dependent one), and BatchNorm's backward amplifies that; measured
    # 1e-4 to 4e-3 relative, where a wrong layout would give order 1.  A conv bias before BatchNorm has
    # a zero gradient but for rounding, so entries are compared as one vector.
    ga = torch.cat([p.grad.flatten() for p in a.parameters()])
    gb = torch.cat([p.grad.flatten() for p in b.parameters()])
    assert float((ga - gb).norm() / ga.norm()) < 2e-2 and float(ga.norm()) > 1e-2
    # and the trainer uses that layout on the CPU unless told not to
    for cl in (True, False):
        out = tmp_path / f"cl{int(cl)}.pt"
        EpisodicTrainer(_cfg(method=method, channels_last=cl, episodes=2), "cpu", out, log=lambda s: None).train()
        w = next(v for v in load_checkpoint(out)["model"].values() if v.ndim == 4 and v.shape[1] > 1)
        assert w.is_contiguous(memory_format=torch.channels_last) == cl


def test_training_resumes_exactly(tmp_path):
    straight = tmp_path / "straight.pt"
    EpisodicTrainer(_cfg(), "cpu", straight, log=lambda s: None).train()
    part = tmp_path / "part.pt"
    EpisodicTrainer(_cfg(episodes=5), "cpu", part, log=lambda s: None).train()
    assert load_checkpoint(part)["episode"] == 5
    resumed = tmp_path / "resumed.pt"
    shutil.copy(part, resumed)
    EpisodicTrainer(_cfg(), "cpu", resumed, log=lambda s: None).train(resume=resumed)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert b["episode"] == 10
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0, msg=f"{k} differs after resume")
    # and the same seed reproduces, a different one does not
    again = tmp_path / "again.pt"
    EpisodicTrainer(_cfg(), "cpu", again, log=lambda s: None).train()
    other = tmp_path / "other.pt"
    EpisodicTrainer(_cfg(seed=4), "cpu", other, log=lambda s: None).train()
    k = "backbone.encoder.0.0.weight"
    assert torch.equal(load_checkpoint(again)["model"][k], a["model"][k])
    assert not torch.equal(load_checkpoint(other)["model"][k], a["model"][k])


@pytest.mark.parametrize("method", ["protonet", "siamese", "relation", "maml"])
def test_learners_improve_on_omniglot_mini(tmp_path, method):
    """A short run lowers the training loss and the checkpoint reloads into a working model."""
    out = tmp_path / f"{method}.pt"
    # MAML learns slowest per step (one first-order inner step); 40 steps left it at the edge of
    # the bar, with the outcome depending on the thread count's float summation order.
    cfg = _cfg(method=method, episodes=80 if method == "maml" else 40, queries=2, val_every=20, checkpoint_every=0, lr=3e-3,
               first_order=True, inner_steps=1, eval_steps=2)
    res = EpisodicTrainer(cfg, "cpu", out, log=lambda s: None).train()
    first, last = res["history"][0], res["history"][-1]
    assert last["loss"] < first["loss"], res["history"]
    learner, lcfg = load_learner(out)
    assert lcfg["method"] == method
    ds = load_omniglot([MINI])
    from core.meta.trainer import evaluate_learner

    acc, _ = evaluate_learner(learner, ds, 5, 1, 2, 100)
    # chance is 0.2 (1,000 scored queries: 0.26 is > 4 standard errors above it); a smoke-sized
    # run on 10 characters, where MAML (first order, one inner step) learns slowest
    assert acc > (0.26 if method == "maml" else 0.3), acc


def test_maml_inner_loop_lowers_support_loss_and_second_order_differs():
    torch.manual_seed(0)
    cfg = dict(method="maml", ways=5, input_size=28, hidden=8, inner_lr=0.4)
    xs, ys = torch.rand(10, 1, 28, 28), torch.arange(5).repeat(2)
    xq, yq = torch.rand(5, 1, 28, 28), torch.arange(5)
    grads = {}
    for fo in (False, True):
        torch.manual_seed(0)
        m: MAMLLearner = build_learner({**cfg, "first_order": fo})
        m.train()
        net = torch.nn.Sequential(m.backbone, m.head)
        fast = FunctionalLearner(net, 0.4, first_order=fo).clone()
        loss0 = torch.nn.functional.cross_entropy(fast(xs), ys)
        losses = [float(loss0.detach())]
        for _ in range(3):
            fast.adapt(torch.nn.functional.cross_entropy(fast(xs), ys))
            losses.append(float(torch.nn.functional.cross_entropy(fast(xs), ys).detach()))
        assert losses[-1] < losses[0]
        # the outer loss reaches the original parameters through the adapted ones
        torch.nn.functional.cross_entropy(fast(xq), yq).backward()
        g = m.head.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        grads[fo] = m.backbone.encoder[0][0].weight.grad.clone()
    assert not torch.allclose(grads[False], grads[True]), "second-order gradient equals first-order"


def test_anil_adapts_only_the_head():
    m = build_learner(dict(method="maml", ways=5, hidden=8, anil=True))
    xs, ys = torch.rand(5, 1, 28, 28), torch.arange(5)
    fast = m.adapt(xs, ys, steps=1, create_graph=False)
    assert set(fast.params) == {"weight", "bias"}


def test_corrupt_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ModelFileError) as e:
        load_checkpoint(bad)
    assert "broken.pt" in str(e.value)
    truncated = tmp_path / "truncated.pt"
    good = tmp_path / "good.pt"
    EpisodicTrainer(_cfg(episodes=1), "cpu", good, log=lambda s: None).train()
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="truncated.pt"):
        load_learner(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="other.pt"):
        load_checkpoint(other)
    with pytest.raises(ModelFileError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_cli_meta_train_and_resume_errors(tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "cli.pt"
    rc = main(["meta-train", "--dataset", str(MINI), "--ways", "5", "--shots", "1", "--queries", "1",
               "--episodes", "2", "--seed", "1", "--out", str(out), "--val-every", "0", "--device", "cpu"])
    assert rc == 0 and load_checkpoint(out)["episode"] == 2
    bad = tmp_path / "junk.pt"
    bad.write_text("hello")
    rc = main(["meta-train", "--dataset", str(MINI), "--ways", "5", "--episodes", "3", "--resume", str(bad),
               "--out", str(tmp_path / "x.pt"), "--device", "cpu"])
    assert rc == 1 and "junk.pt" in capsys.readouterr().err


def test_ddp_two_gloo_processes(tmp_path):
    """torchrun with two CPU processes (gloo) on a tiny run: both finish, rank 0 checkpoints."""
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "core.cli", "meta-train", "--dataset", str(MINI), "--ways", "5", "--shots", "1",
           "--queries", "1", "--episodes", "3", "--seed", "0", "--device", "cpu", "--out", str(out),
           "--val-every", "0", "--threads", "1"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "x 2 processes" in p.stderr
    ck = load_checkpoint(out)
    assert ck["episode"] == 3


def test_exported_weights_become_a_backbone(tmp_path, monkeypatch):
    from core.cli import main
    from core.meta.checkpoints import bundled_backbone_specs

    assets = tmp_path / "assets"
    slim = assets / "models" / "omniglot" / "omniglot_conv4_protonet.pt"
    rc = main(["meta-train", "--dataset", str(MINI), "--ways", "5", "--queries", "1", "--episodes", "2",
               "--out", str(tmp_path / "full.pt"), "--export", str(slim), "--val-every", "0", "--device", "cpu"])
    assert rc == 0
    ck = load_checkpoint(slim)
    assert "optimizer" not in ck and slim.stat().st_size < 1_000_000
    monkeypatch.setenv("FEWLENS_ASSETS_DIR", str(assets))
    (spec,) = bundled_backbone_specs()
    assert spec.id == "omniglot_conv4_protonet" and spec.input_size == 28 and spec.embed_dim == 64
    net = spec.build_torch()
    with torch.no_grad():
        out = net(torch.rand(3, 3, 28, 28))  # the app's RGB input
    assert out.shape == (3, 64)
