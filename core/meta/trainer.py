"""Episodic meta-training with periodic checkpoints, exact resume, seeds and DDP.

Determinism: episode ``i`` is drawn and augmented from ``(seed, i)`` alone (see ``sampling``), the
model is initialised from ``seed``, and a checkpoint stores the step counter, model, optimizer,
scheduler and RNG states, so ``train 5 + resume 5`` gives the same weights as ``train 10``.

Distributed: launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the trainer joins a
process group (NCCL on GPUs, gloo on CPUs), wraps the learner in DistributedDataParallel and each
rank trains on its share of one shared episode stream (step ``s`` on rank ``r`` uses episode
``s * world + r``), so one optimizer step averages ``world`` episodes.  Rank 0 validates, logs and
writes checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FewLensError
from .checkpoints import load_checkpoint, save_checkpoint
from .datasets import MetaDataset, load_dataset
from .sampling import Augment, EpisodeShape, episode_labels, episode_rng, sample_episode, to_input

# validation episodes are a fixed set, independent of the training seed
VAL_SEED = 20150101


@dataclass
class TrainConfig:
    datasets: list[str]
    method: str = "protonet"
    backbone: str = "conv4"
    ways: int = 20
    shots: int = 1
    queries: int = 5
    episodes: int = 2000
    lr: float = 1e-3
    # "step": halve every lr_halve_every steps (independent of the run length, so 5 + resume 5 ==
    # 10 straight); "cosine": decay to lr/20 over lr_horizon steps (default: this run's episodes)
    lr_schedule: str = "step"
    lr_halve_every: int = 1000
    lr_horizon: int = 0
    seed: int = 0
    input_size: int = 28
    hidden: int = 64
    rotations: bool = True
    augment: bool = True
    within_group: float = 0.5  # share of episodes drawn within one alphabet (Lake's setting)
    val_groups: list[str] = field(default_factory=list)
    val_ways: int = 20
    val_shots: int = 1
    val_episodes: int = 100
    val_every: int = 250
    checkpoint_every: int = 250
    # method options
    inner_lr: float = 0.4
    inner_steps: int = 1
    eval_steps: int = 3
    first_order: bool = False
    anil: bool = False
    relation_hidden: int = 128
    relation_loss: str = "mse"
    siamese_loss: str = "bce"
    proto_init: bool = False  # MAML: head initialised from the support prototypes (Proto-MAML)
    # start from another checkpoint's Conv-4 encoder (e.g. the shipped ProtoNet): its backbone
    # weights are copied in, the method's head starts fresh; the encoder stays frozen (eval-mode
    # BatchNorm, no gradient) for the first freeze_backbone steps, then trains at lr * backbone_lr
    init_from: str = ""
    freeze_backbone: int = 0
    backbone_lr: float = 1.0
    bank_views: int = 4  # frozen steps sample embeddings from a feature bank of this many views (0: images)
    # the learner's weights in channels-last layout on the CPU: a training step 1.23-1.36x faster for every
    # learner on one thread (bench/profile_meta_step.py, bench/results/meta_profile.md)
    channels_last: bool = True

    def learner_config(self, in_channels: int) -> dict:
        keys = ("method", "backbone", "ways", "input_size", "hidden", "inner_lr", "inner_steps", "eval_steps",
                "first_order", "anil", "relation_hidden", "relation_loss", "proto_init", "siamese_loss")
        d = {k: getattr(self, k) for k in keys}
        d["in_channels"] = in_channels
        return d


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FewLensError("--device cuda: no CUDA GPU is available")
    return device


class EpisodicTrainer:
    def __init__(self, cfg: TrainConfig, device: str = "auto", out: str | Path | None = None,
                 log: Callable[[str], None] | None = None, dataset: MetaDataset | None = None):
        self.cfg = cfg
        self.out = Path(out) if out else None
        self.rank, self.world, self.local_rank = _dist_env()
        self.device = resolve_device(device)
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        self._dataset = dataset

    # -- setup ---------------------------------------------------------------------------------
    def _data(self) -> tuple[MetaDataset, MetaDataset | None]:
        c = self.cfg
        ds = self._dataset if self._dataset is not None else load_dataset(c.datasets, c.input_size)
        val = None
        if c.val_groups:
            ds, val = ds.split_by_group(c.val_groups)
        if c.rotations:
            ds = ds.with_rotations()
        return ds, val

    def _init_dist(self):
        import torch
        import torch.distributed as dist

        if self.world <= 1 or dist.is_initialized():
            return
        if self.device == "cuda":
            torch.cuda.set_device(self.local_rank)
            self.device = f"cuda:{self.local_rank}"
        dist.init_process_group("nccl" if self.device.startswith("cuda") else "gloo")

    # -- main loop -----------------------------------------------------------------------------
    def train(self, resume: str | Path | None = None) -> dict:
        import torch

        from .learners import build_learner

        c = self.cfg
        self._init_dist()
        train_ds, val_ds = self._data()
        if self.rank == 0:
            self.log(f"meta-train {c.method}/{c.backbone}: {len(train_ds)} train classes"
                     f"{f', {len(val_ds)} validation classes' if val_ds else ''}; {c.ways}-way {c.shots}-shot "
                     f"{c.queries} queries; {c.episodes} steps on {self.device}"
                     f"{f' x {self.world} processes' if self.world > 1 else ''}")
        torch.manual_seed(c.seed)
        lcfg = c.learner_config(train_ds.channels)
        learner = build_learner(lcfg).to(self.device)
        if c.channels_last and self.device == "cpu":
            learner = learner.to(memory_format=torch.channels_last)
        if c.init_from and not resume:
            init_backbone(learner, c.init_from, lcfg)
        bb_params = list(learner.backbone.parameters())
        bb_ids = {id(p) for p in bb_params}
        rest = [p for p in learner.parameters() if id(p) not in bb_ids]
        groups = [{"params": bb_params, "lr": c.lr * c.backbone_lr}]
        if rest:
            groups.append({"params": rest, "lr": c.lr})
        opt = torch.optim.Adam(groups, lr=c.lr)
        if c.lr_schedule == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, max(c.lr_halve_every, 1), 0.5)
        elif c.lr_schedule == "cosine":
            horizon = max(c.lr_horizon or c.episodes, 1)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, horizon) / horizon)))
        else:
            raise FewLensError(f"unknown learning-rate schedule {c.lr_schedule!r} (step or cosine)")
        start, history, best, best_state = 0, [], {"episode": -1, "val_acc": -1.0}, None
        if resume:
            ck = load_checkpoint(resume)
            saved = ck["config"]
            for k in ("method", "ways", "input_size", "hidden"):
                if saved.get(k) != lcfg.get(k):
                    raise FewLensError(f"{resume}: checkpoint was trained with {k}={saved.get(k)!r}, not {lcfg.get(k)!r}")
            learner.load_state_dict(ck["model"])
            if "optimizer" in ck:
                opt.load_state_dict(ck["optimizer"])
            if "scheduler" in ck:
                sched.load_state_dict(ck["scheduler"])
            start = int(ck.get("episode", 0))
            history = list(ck.get("history", []))
            best = dict(ck.get("best") or best)
            best_state = ck.get("best_model")
            rng = ck.get("rng") or {}
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if "numpy" in rng:
                np.random.set_state(tuple(json.loads(rng["numpy"])))
            if self.rank == 0:
                self.log(f"resumed from {resume} at step {start}")

        model = learner
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(learner, device_ids=[self.local_rank] if self.device.startswith("cuda") else None)

        shape = EpisodeShape(c.ways, c.shots, c.queries)
        ys_np, yq_np = episode_labels(shape)
        ys, yq = torch.from_numpy(ys_np).to(self.device), torch.from_numpy(yq_np).to(self.device)
        aug = Augment() if c.augment else None
        run_loss, run_acc, n_run, t0 = 0.0, 0.0, 0, time.time()
        if c.init_from and start == 0 and self.rank == 0 and val_ds is not None and c.val_episodes > 0 and c.val_every:
            # the starting point is a candidate too: fine-tuning must beat it to be kept
            va, ci = evaluate_learner(learner, val_ds, c.val_ways, c.val_shots, 5, c.val_episodes, self.device,
                                      within_group=1.0)
            best = {"episode": 0, "val_acc": va}
            best_state = {k: v.detach().cpu().clone() for k, v in learner.state_dict().items()}
            history.append({"episode": 0, "val_acc": va, "val_ci95": ci})
            self.log(f"episode 0 (initial weights from {c.init_from})  val_acc {va:.4f}  val_ci95 {ci:.4f}")
        bank = None
        if c.freeze_backbone > start and c.bank_views > 0:
            if self.world > 1:
                raise FewLensError("--freeze-backbone with a feature bank runs in one process; use --bank-views 0 under torchrun")
            from .bank import build_feature_bank

            tb = time.time()
            from ..paths import cache_dir

            bank = build_feature_bank(learner, train_ds, c.bank_views, c.seed, aug, self.device,
                                      cache=cache_dir() / "feature_banks")
            if self.rank == 0:
                self.log(f"feature bank: {c.bank_views} views of {sum(len(x) for x in train_ds.images)} images "
                         f"in {time.time() - tb:.1f} s")
        learner.train()
        for step in range(start, c.episodes):
            frozen = step < c.freeze_backbone
            for p in bb_params:
                p.requires_grad_(not frozen)
            learner.backbone.train(not frozen)
            idx = step * self.world + self.rank
            rng = episode_rng(c.seed, idx)
            if frozen and bank is not None:
                from .bank import pick_views

                s_np, q_np, _ = sample_episode(bank, shape, rng, c.within_group)
                gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
                loss, acc = learner.forward_z(pick_views(s_np, gen, self.device), ys,
                                              pick_views(q_np, gen, self.device), yq, c.ways)
            else:
                s_np, q_np, _ = sample_episode(train_ds, shape, rng, c.within_group)
                gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
                xs = to_input(s_np, train_ds.store_size, c.input_size, aug, gen, self.device)
                xq = to_input(q_np, train_ds.store_size, c.input_size, aug, gen, self.device)
                loss, acc = model(xs, ys, xq, yq, c.ways)
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:  # a Proto-MAML head with a frozen encoder has nothing to train
                loss.backward()
                opt.step()
            sched.step()
            run_loss += float(loss.detach())
            run_acc += float(acc)
            n_run += 1
            done = step + 1
            if self.rank != 0:
                continue
            last = done == c.episodes
            if c.val_every and (done % c.val_every == 0 or last):
                entry = {"episode": done, "loss": run_loss / n_run, "train_acc": run_acc / n_run,
                         "lr": sched.get_last_lr()[-1], "sec": round(time.time() - t0, 1)}
                if val_ds is not None and c.val_episodes > 0:
                    va, ci = evaluate_learner(learner, val_ds, c.val_ways, c.val_shots, 5, c.val_episodes,
                                              self.device, within_group=1.0)
                    entry.update(val_acc=va, val_ci95=ci)
                    if va > best["val_acc"]:
                        best = {"episode": done, "val_acc": va}
                        best_state = {k: v.detach().cpu().clone() for k, v in learner.state_dict().items()}
                    learner.train()
                    learner.backbone.train(done >= c.freeze_backbone)
                history.append(entry)
                self.log("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
                run_loss, run_acc, n_run = 0.0, 0.0, 0
            if self.out and (last or (c.checkpoint_every and done % c.checkpoint_every == 0)):
                state = {
                    "config": {**lcfg, "train": json.dumps(asdict(c))},
                    "model": {k: v.detach().cpu() for k, v in learner.state_dict().items()},
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "episode": done,
                    "rng": {"torch": torch.get_rng_state(), "numpy": json.dumps(_np_state())},
                    "history": history,
                    "best": best,
                }
                if best_state is not None:
                    state["best_model"] = best_state
                save_checkpoint(state, self.out)
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
        return {"history": history, "best": best, "learner": learner, "episodes": c.episodes}


def init_backbone(learner, path: str | Path, lcfg: dict) -> None:
    """Copy the Conv-4 encoder weights (``backbone.*``, BatchNorm statistics included) of another
    checkpoint into ``learner``; the architecture (hidden width, input size) must match."""
    from .checkpoints import load_checkpoint

    ck = load_checkpoint(path)
    saved = ck["config"]
    for k in ("backbone", "input_size", "hidden", "in_channels"):
        if k in saved and saved.get(k) != lcfg.get(k):
            raise FewLensError(f"{path}: its encoder was trained with {k}={saved.get(k)!r}, not {lcfg.get(k)!r}")
    state = ck.get("best_model") or ck["model"]
    bb = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    if not bb:
        raise FewLensError(f"{path}: checkpoint has no backbone weights to start from")
    try:
        learner.backbone.load_state_dict(bb)
    except RuntimeError as e:
        raise FewLensError(f"{path}: encoder weights do not fit ({str(e).splitlines()[0][:120]})") from e


def _np_state():
    s = np.random.get_state()
    return [s[0], s[1].tolist(), int(s[2]), int(s[3]), float(s[4])]


def evaluate_learner(learner, ds: MetaDataset, ways: int, shots: int, queries: int, episodes: int,
                     device: str = "cpu", within_group: float = 0.0, seed: int = VAL_SEED) -> tuple[float, float]:
    """Mean accuracy and 95% CI half-width over fixed, seeded episodes (no augmentation)."""
    import torch

    shape = EpisodeShape(ways, shots, queries)
    ys_np, yq_np = episode_labels(shape)
    ys, yq = torch.from_numpy(ys_np).to(device), torch.from_numpy(yq_np).to(device)
    learner.eval()
    accs = []
    with torch.no_grad():
        for i in range(episodes):
            s_np, q_np, _ = sample_episode(ds, shape, episode_rng(seed, i), within_group)
            xs = to_input(s_np, ds.store_size, ds.input_size, device=device)
            xq = to_input(q_np, ds.store_size, ds.input_size, device=device)
            logits = learner.logits(xs, ys, xq, ways)
            accs.append(float((logits.argmax(1) == yq).float().mean()))
    a = np.asarray(accs)
    return float(a.mean()), float(1.96 * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
