"""Where a meta-training step's time goes on this CPU, and what the usual speed-ups buy (issue 18).

    python bench/profile_meta_step.py [--data /work/shared/data/omniglot/images_background_small1.zip]
                                      [--steps 30] [--threads 1] [--ways 20] [--out bench/results/meta_profile.md]

For each learner (ProtoNet, Siamese, Relation, Proto-MAML first and second order), the trainer's own
step (core.meta.trainer: sample an episode, augment it, forward, backward, Adam) is timed in parts:

- data: ``sample_episode`` + ``to_input`` with the training augmentation;
- step: forward + backward + optimizer step, under each variant:
  eager (NCHW), channels-last (model and inputs), ``torch.compile`` (inductor; its compile time
  is reported apart, and a variant that fails to compile says why).
- MAML over a meta-batch of 4 tasks: the inner loops one task after the other vs one
  ``torch.func.vmap`` over the tasks (the encoder embeds all 4 tasks in one batch in both).

Medians over ``--steps`` steps after 3 warm-up steps, the variants of a learner interleaved in 3
rounds, one torch thread by default (how the shipped models were trained).  Compile times are
with inductor's on-disk cache as found (a second run reuses it).  Machine-specific: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEARNERS = {
    "protonet": {},
    "siamese": {},
    "relation": {},
    "maml (Proto-MAML, first order)": {"method": "maml", "proto_init": True, "first_order": True},
    "maml (Proto-MAML, second order)": {"method": "maml", "proto_init": True, "first_order": False},
}


def _median_ms(times: list[float]) -> float:
    return 1000.0 * float(np.median(times))


def build(name: str, ways: int):
    from core.meta.learners import build_learner
    from core.meta.trainer import TrainConfig

    opts = dict(LEARNERS[name])
    method = opts.pop("method", name)
    cfg = TrainConfig(datasets=[], method=method, ways=ways, **opts).learner_config(1)
    return build_learner(cfg)


def episodes(ds, shape, steps: int, seed: int = 0):
    """Pre-sampled training inputs (so a step variant times the model alone) and the data time."""
    import torch

    from core.meta.sampling import Augment, episode_rng, sample_episode, to_input

    aug, out, times = Augment(), [], []
    for i in range(steps):
        t0 = time.perf_counter()
        rng = episode_rng(seed, i)
        s_np, q_np, _ = sample_episode(ds, shape, rng, 0.5)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        xs = to_input(s_np, ds.store_size, 28, aug, gen)
        xq = to_input(q_np, ds.store_size, 28, aug, gen)
        times.append(time.perf_counter() - t0)
        out.append((xs, xq))
    return out, _median_ms(times)


class Variant:
    """One way of running a learner's training step (its own copy of the learner and optimizer)."""

    def __init__(self, learner, channels_last: bool = False, compiled=None):
        import torch

        self.learner, self.channels_last = learner, channels_last
        self.fwd = compiled if compiled is not None else learner  # (a module's truth value calls len())
        self.opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
        self.times: list[float] = []

    def step(self, xs, xq, ys, yq, ways: int, keep: bool = True) -> None:
        import torch

        if self.channels_last:
            xs, xq = xs.contiguous(memory_format=torch.channels_last), xq.contiguous(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        loss, _ = self.fwd(xs, ys, xq, yq, ways)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if keep:
            self.times.append(time.perf_counter() - t0)


def time_variants(variants: list[Variant], batches, ys, yq, ways: int, rounds: int = 3) -> list[float]:
    """Median ms per step of each variant, the variants interleaved in ``rounds`` rounds over the same
    episodes (so a drift of the machine's speed hits them all alike); 3 warm-up steps each first."""
    for v in variants:
        for xs, xq in batches[:3]:
            v.step(xs, xq, ys, yq, ways, keep=False)
    per = max((len(batches) - 3) // rounds, 1)
    for r in range(rounds):
        for v in variants:
            for xs, xq in batches[3 + r * per: 3 + (r + 1) * per]:
                v.step(xs, xq, ys, yq, ways)
    return [_median_ms(v.times) for v in variants]


def maml_meta_batch(learner, batches, ys, yq, ways: int, tasks: int = 4) -> tuple[float, float]:
    """(sequential, vmap) ms per meta-batch of ``tasks`` Proto-MAML inner loops + outer step."""
    import torch
    import torch.nn.functional as F
    from torch.func import grad, vmap

    steps, lr = learner.inner_steps, learner.inner_lr
    second = not learner.first_order
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    n_s, n_q = len(ys), len(yq)
    onehot = F.one_hot(ys, ways).float()  # class means as a product: vmap cannot batch index_add_ into a fresh tensor

    def embed_all(group):
        x = torch.cat([torch.cat([xs, xq]) for xs, xq in group])
        return learner.embed(x).view(len(group), n_s + n_q, -1)

    def inner(zs, zq):  # one task: prototypes -> (W, b) -> `steps` SGD steps on the support loss -> query loss
        protos = onehot.t() @ zs / onehot.sum(0)[:, None]
        w, b = 2 * protos, -(protos ** 2).sum(1)

        def support_loss(wb):
            return F.cross_entropy(zs @ wb[0].t() + wb[1], ys)

        for _ in range(steps):
            g = grad(support_loss)((w, b))
            if not second:
                g = (g[0].detach(), g[1].detach())
            w, b = w - lr * g[0], b - lr * g[1]
        return F.cross_entropy(zq @ w.t() + b, yq)

    groups = [batches[i:i + tasks] for i in range(0, len(batches) - tasks + 1, tasks)]
    out = []
    for mode in ("sequential", "vmap"):
        times = []
        for i, group in enumerate(groups):
            t0 = time.perf_counter()
            z = embed_all(group)
            zs, zq = z[:, :n_s], z[:, n_s:]
            if mode == "sequential":
                loss = torch.stack([inner(zs[t], zq[t]) for t in range(len(group))]).mean()
            else:
                loss = vmap(inner)(zs, zq).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 1:
                times.append(time.perf_counter() - t0)
        out.append(_median_ms(times))
    return out[0], out[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/shared/data/omniglot/images_background_small1.zip")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ways", type=int, default=20)
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    import torch

    from core.meta.datasets import load_dataset
    from core.meta.sampling import EpisodeShape, episode_labels

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_dataset([args.data], 28)
    load_s = time.perf_counter() - t0
    shape = EpisodeShape(args.ways, 1, args.queries)
    ys_np, yq_np = episode_labels(shape)
    ys, yq = torch.from_numpy(ys_np), torch.from_numpy(yq_np)
    batches, data_ms = episodes(ds, shape, args.steps + 3)
    load1 = os.getloadavg()[0]
    lines = [
        "## Meta-training step profile (issue 18)", "",
        f"`python bench/profile_meta_step.py --steps {args.steps} --threads {args.threads} --ways {args.ways}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), "
        f"load average at start {load1:.2f}, torch {torch.__version__}. {args.ways}-way 1-shot {args.queries} queries "
        f"(28x28, Conv-4), {len(ds)} classes loaded in {load_s:.1f} s. Median ms per step over {args.steps} steps.", "",
        f"Data per step (sample + augment, the trainer's `sample_episode` + `to_input`): **{data_ms:.1f} ms**.", "",
        "| learner | eager ms | channels-last ms | torch.compile ms (compile s) | best vs eager |",
        "|---|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for name in LEARNERS:
        variants = []
        for channels_last in (False, True):
            torch.manual_seed(0)
            learner = build(name, args.ways).train()
            variants.append(Variant(learner.to(memory_format=torch.channels_last) if channels_last else learner,
                                    channels_last))
        comp_txt = "not run"
        if not args.no_compile:
            torch.manual_seed(0)
            c_learner = build(name, args.ways).train()
            try:
                tc = time.perf_counter()
                compiled = torch.compile(c_learner)
                xs, xq = batches[0]
                loss, _ = compiled(xs, ys, xq, yq, args.ways)
                loss.backward()
                compile_s = time.perf_counter() - tc
                variants.append(Variant(c_learner, compiled=compiled))
            except Exception as e:  # a learner inductor cannot compile: say why, in one line
                comp_txt = f"fails: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
        ms = time_variants(variants, batches, ys, yq, args.ways)
        if len(ms) == 3:
            comp_txt = f"{ms[2]:.1f} ({compile_s:.0f} s)"
        row = f"| {name} | {ms[0]:.1f} | {ms[1]:.1f} | {comp_txt} | {ms[0] / min(ms):.2f}x |"
        lines.append(row)
        print(row, flush=True)
    # MAML over a meta-batch of tasks
    lines += ["", "Proto-MAML over a meta-batch of 4 tasks (the encoder embeds the 4 tasks in one batch either way; "
              "ms per meta-batch: inner loops one after the other vs `torch.func.vmap` over the tasks):", "",
              "| learner | sequential ms | vmap ms | vmap vs sequential |", "|---|---:|---:|---:|"]
    for name in ("maml (Proto-MAML, first order)", "maml (Proto-MAML, second order)"):
        torch.manual_seed(0)
        learner = build(name, args.ways).train()
        seq, vm = maml_meta_batch(learner, batches, ys, yq, args.ways)
        lines.append(f"| {name} | {seq:.1f} | {vm:.1f} | {seq / vm:.2f}x |")
        print(lines[-1], flush=True)
    # why a meta-batch costs more than its tasks one by one: the encoder's own cost per image grows with the batch
    torch.manual_seed(0)
    enc = build("protonet", args.ways).train()
    cost = {}
    for tasks in (1, 4):
        x = torch.cat([torch.cat(b) for b in batches[:tasks]])
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            enc.embed(x).sum().backward()
            times.append(time.perf_counter() - t0)
        cost[tasks] = (len(x), _median_ms(times[2:]))
    (n1, t1), (n4, t4) = cost[1], cost[4]
    lines += ["", f"Encoder forward + backward alone: {n1} images {t1:.0f} ms, {n4} images {t4:.0f} ms "
              f"({t4 / t1:.1f}x the time for 4x the images: the larger batch's activations leave the CPU caches)."]
    lines += ["", f"Load average at end {os.getloadavg()[0]:.2f}."]
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
