"""Bench (GPU): per-episode fine-tuning of the bundled MobileNetV2's last blocks, then ``softkmeans``.

Issue 5's "fine-tuning with augmentation when there are 5+ shots" lever, at the scale the issue asks
for (600 episodes per cell), which one CPU cannot do.  Many episodes are adapted at once: each
episode gets its own copy of the trainable tail, and ``torch.func.vmap`` runs all copies in one
batched pass, so an episode costs what one small batch costs.

Per image the frozen front (stem + blocks[:cut]) is run once on the app's crop (resize 256, center
224) and on ``--views`` augmented views (random resized crop of the central 256 x 256, area 35-100 %,
aspect 3:4-4:3, random mirror), and cached on the GPU.  Per episode:

1. tail = blocks[cut:] + final 1x1 conv, a copy per episode (cut 17: final conv only; 13: the whole
   7x7 stage; 0: everything after the stem);
2. head = cosine classifier on the app's transform (L2, minus the mean of the episode's images, L2),
   initialized at the class means, trained jointly; loss = cross-entropy on 2 augmented views of
   every labeled image (+ ``ent`` x the mean prediction entropy of the unlabeled images, the
   transductive fine-tuning of Dhillon et al. 2020); Adam, ``steps`` steps at ``lr``;
3. embed support + unlabeled (pool + queries) with the adapted tail; score the queries with the
   app's default ``softkmeans`` (optionally stacked with frozen b16 + whole-photo views, as in the
   third round's best frozen stack).

A grid is screened on the selection classes (5-shot, M=0 and M=10), the best setting by the mean of
the two is then run on selection / confirmation / all 17 with 600 episodes.  ``--budget`` seconds
bound the whole run: the grid stops early to leave time for the final table.

    python3 bench/experiments/accuracy_finetune_gpu.py --dataset ../shared/data/clothing17 --out results.md
    python3 bench/experiments/accuracy_finetune_gpu.py --quick   # CPU smoke test: tiny grid, few episodes
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call, grad, vmap  # noqa: E402

from core.backbones import get_backbone  # noqa: E402
from core.episodes import FolderDataset, sample_episodes  # noqa: E402
from core.images import load_image  # noqa: E402
from core.methods import get_method  # noqa: E402
from core.methods.base import l2_normalize  # noqa: E402
from core.preprocess import normalize, resize_center_crop  # noqa: E402

SPEC = get_backbone("mobilenet_v2_imagenet")


def splits(classes: list[str], seed: int = 0, n_select: int = 10) -> dict[str, list[str]]:
    # the same split as bench_accuracy.splits (not imported: that pulls in ONNX Runtime)
    perm = np.random.default_rng(seed).permutation(len(classes))
    return {"selection": sorted(classes[i] for i in perm[:n_select]),
            "confirmation": sorted(classes[i] for i in perm[n_select:]), "all": list(classes)}


def _decode(path: str):
    img = load_image(path, min_side=None).convert("RGB")
    crop = normalize(np.asarray(resize_center_crop(img, 256, 224), np.uint8), SPEC)
    square = normalize(np.asarray(resize_center_crop(img, 256, 256), np.uint8), SPEC)
    w, h = img.size
    s = 224 / min(w, h)  # whole photo, shorter side 224 (the third round's second view)
    full = img.resize((max(32, round(w * s)), max(32, round(h * s))), resample=2, reducing_gap=None)
    return crop, square.astype(np.float16), normalize(np.asarray(full, np.uint8), SPEC)


class Data:
    """Decoded dataset on the device: clean crops, 256-squares for augmentation, frozen extra views."""

    def __init__(self, dataset: str, device: str, n_views: int, limit_per_class: int | None = None,
                 model_file: str | None = None):
        ds = FolderDataset.from_folder(dataset)
        if limit_per_class:  # --quick: a few images per class
            keep = np.concatenate([np.flatnonzero(ds.labels == c)[:limit_per_class] for c in range(len(ds.classes))])
            ds = FolderDataset(ds.root, ds.classes, [ds.paths[i] for i in keep], ds.labels[keep])
        self.ds, self.device, self.n_views = ds, device, n_views
        t0 = time.time()
        with Pool(min(16, os.cpu_count() or 1)) as pool:
            dec = pool.map(_decode, [str(p) for p in ds.paths], chunksize=16)
        self.crop = torch.from_numpy(np.stack([d[0] for d in dec])).to(device)
        self.square = torch.from_numpy(np.stack([d[1] for d in dec])).to(device)
        self.full = [d[2] for d in dec]
        print(f"decoded {len(ds)} images in {time.time() - t0:.0f} s", flush=True)
        # a pickled port (``torch.save(SPEC.build_torch(), F)``) for machines without the tflite reader
        model = torch.load(model_file, weights_only=False) if model_file else SPEC.build_torch()
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.aug = self._augment(n_views)  # (n, V, 3, 224, 224) float16
        self.extra = self._extra_views()
        self._fronts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _augment(self, n_views: int) -> torch.Tensor:
        from torchvision.ops import roi_align

        g = torch.Generator().manual_seed(0)
        n = len(self.ds)
        out = torch.empty((n, n_views, 3, 224, 224), dtype=torch.float16, device=self.device)
        for v in range(n_views):
            area = torch.empty(n).uniform_(0.35, 1.0, generator=g)
            logr = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)
            w = (256 * torch.sqrt(area * logr.exp())).clamp(max=256)
            h = (256 * torch.sqrt(area / logr.exp())).clamp(max=256)
            x0 = torch.rand(n, generator=g) * (256 - w)
            y0 = torch.rand(n, generator=g) * (256 - h)
            flip = torch.rand(n, generator=g) < 0.5
            boxes = torch.stack([torch.arange(n, dtype=torch.float32), x0, y0, x0 + w, y0 + h], 1).to(self.device)
            for i in range(0, n, 256):
                views = roi_align(self.square[i:i + 256].float(), boxes[i:i + 256] - torch.tensor(
                    [i, 0, 0, 0, 0], device=self.device), (224, 224), 1.0, 2, aligned=True)
                f = flip[i:i + 256].to(self.device)
                views[f] = views[f].flip(-1)
                out[i:i + 256, v] = views.half()
        return out

    @torch.no_grad()
    def _extra_views(self) -> np.ndarray:
        """L2-normalized [b16 of the crop (320), final embedding of the whole photo (1280)] per image."""
        m = self.model
        b16 = []
        for i in range(0, len(self.ds), 256):
            b16.append(m.blocks(m.stem(self.crop[i:i + 256])).mean((2, 3)).cpu().numpy())
        full = np.zeros((len(self.ds), 1280), np.float32)
        shapes: dict[tuple, list[int]] = {}
        for i, x in enumerate(self.full):
            shapes.setdefault(x.shape, []).append(i)
        for shape, idx in shapes.items():
            for j in range(0, len(idx), 256):
                chunk = idx[j:j + 256]
                x = torch.from_numpy(np.stack([self.full[i] for i in chunk])).to(self.device)
                full[chunk] = m(x).cpu().numpy()
        return np.concatenate([l2_normalize(np.concatenate(b16)), l2_normalize(full)], 1)

    @torch.no_grad()
    def front(self, cut: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean (n, C, H, W), augmented (n, V, C, H, W)) float16 inputs of blocks[cut]."""
        if cut not in self._fronts:
            self._fronts.clear()  # one cut at a time: the cut-0 maps alone are ~11 GB
            m = self.model

            def run(x):
                return m.blocks[:cut](m.stem(x.float())).half()

            clean = torch.cat([run(self.crop[i:i + 128]) for i in range(0, len(self.ds), 128)])
            n, v = self.aug.shape[:2]
            aug = torch.empty((n, v, *clean.shape[1:]), dtype=torch.float16, device=self.device)
            for j in range(v):
                for i in range(0, n, 128):
                    aug[i:i + 128, j] = run(self.aug[i:i + 128, j])
            self._fronts[cut] = (clean, aug)
        return self._fronts[cut]

    def tail(self, cut: int) -> torch.nn.Module:
        t = torch.nn.Sequential(*copy.deepcopy(list(self.model.blocks[cut:])), copy.deepcopy(self.model.last))
        for mod in t.modules():
            if isinstance(mod, torch.nn.ReLU6):
                mod.inplace = False  # functional transforms need out-of-place activations
        return t


def adapt_chunk(data: Data, cfg: dict, eps: list, index: np.ndarray) -> np.ndarray:
    """Adapted embeddings (E, n_support + n_unlabeled, 1280) for episodes of equal sizes."""
    dev = data.device
    cut, steps = cfg["cut"], cfg["steps"]
    clean, aug = data.front(cut)
    tail = data.tail(cut)
    base = {k: v.detach() for k, v in tail.named_parameters()}
    E = len(eps)
    sup = torch.from_numpy(np.stack([index[e.support] for e in eps])).to(dev)  # (E, S)
    unl = torch.from_numpy(np.stack([index[np.concatenate([e.unlabeled, e.query])] for e in eps])).to(dev)
    y = torch.from_numpy(np.stack([np.unique(e.support_labels, return_inverse=True)[1] for e in eps])).to(dev)
    ways = int(y.max()) + 1

    def embed(params, x):
        return functional_call(tail, params, (x,)).mean((2, 3))

    def transform(f, mean):
        return F.normalize(F.normalize(f, dim=-1) - mean, dim=-1)

    def embed_all(params_e, idx_e):  # batched over episodes, chunked over images
        out = []
        for i in range(0, idx_e.shape[1], 64):
            x = clean[idx_e[:, i:i + 64]].float()  # (E, b, C, H, W)
            out.append(vmap(embed)(params_e, x))
        return torch.cat(out, 1)

    params = {k: v.unsqueeze(0).repeat(E, *[1] * v.dim()) for k, v in base.items()}
    if steps == 0:
        with torch.no_grad():
            return torch.cat([embed_all(params, sup), embed_all(params, unl)], 1).cpu().numpy()
    with torch.no_grad():
        f_sup, f_unl = embed_all(params, sup), embed_all(params, unl)
        mean = F.normalize(torch.cat([f_sup, f_unl], 1), dim=-1).mean(1)  # (E, D)
        fs = transform(f_sup, mean[:, None])
        protos = torch.stack([(fs * (y == k)[..., None]).sum(1) / (y == k).sum(1, keepdim=True) for k in range(ways)], 1)
    T, ent = cfg.get("T", 10.0), cfg.get("ent", 0.0)
    g = torch.Generator(device=dev).manual_seed(1)

    def loss_fn(p, pr, x, yy, xu, mu):
        logits = T * transform(embed(p, x), mu) @ F.normalize(pr, dim=-1).T
        loss = F.cross_entropy(logits, yy)
        if ent:
            pu = torch.softmax(T * transform(embed(p, xu), mu) @ F.normalize(pr, dim=-1).T, -1)
            loss = loss + ent * -(pu * torch.log(pu + 1e-8)).sum(-1).mean()
        return loss

    gradf = vmap(grad(loss_fn, argnums=(0, 1)))
    state = {"p": params, "pr": protos}
    m1 = {k: torch.zeros_like(v) for k, v in params.items()} | {"pr": torch.zeros_like(protos)}
    m2 = {k: torch.zeros_like(v) for k, v in params.items()} | {"pr": torch.zeros_like(protos)}
    lr, b1, b2 = cfg["lr"], 0.9, 0.999
    S, V = sup.shape[1], aug.shape[1]
    for t in range(1, steps + 1):
        img = sup.repeat(1, 2)  # 2 augmented views of every labeled image
        view = torch.randint(V, img.shape, device=dev, generator=g)
        x = aug[img, view].float()
        yy = y.repeat(1, 2)
        if ent:
            pick = torch.randint(unl.shape[1], (E, min(64, unl.shape[1])), device=dev, generator=g)
            xu = clean[torch.gather(unl, 1, pick)].float()
        else:
            xu = x[:, :1]
        gp, gpr = gradf(state["p"], state["pr"], x, yy, xu, mean)
        grads = gp | {"pr": gpr}
        with torch.no_grad():
            for k, gk in grads.items():
                m1[k].mul_(b1).add_(gk, alpha=1 - b1)
                m2[k].mul_(b2).addcmul_(gk, gk, value=1 - b2)
                upd = (m1[k] / (1 - b1**t)) / ((m2[k] / (1 - b2**t)).sqrt() + 1e-8)
                target = state["pr"] if k == "pr" else state["p"][k]
                target.sub_(lr * upd)
    del S
    with torch.no_grad():
        return torch.cat([embed_all(state["p"], sup), embed_all(state["p"], unl)], 1).cpu().numpy()


def evaluate(data: Data, cfg: dict, split: str, shots: int, pool: int, episodes: int, chunk: int,
             stack: bool = False) -> dict:
    ds = data.ds
    sub = ds.subset(splits(ds.classes)[split])
    paths = np.asarray([str(p) for p in ds.paths], object)
    index = np.flatnonzero(np.isin(paths, np.asarray([str(p) for p in sub.paths], object)))
    eps = sample_episodes(sub.labels, 5, shots, 15, episodes, seed=0, unlabeled_pool=pool)
    t0 = time.time()
    accs = {False: [], True: []}
    groups: dict[tuple, list] = {}
    for e in eps:
        groups.setdefault((len(e.support), len(e.unlabeled)), []).append(e)
    for same in groups.values():
        for i in range(0, len(same), chunk):
            part = same[i:i + chunk]
            emb = adapt_chunk(data, cfg, part, index)
            for e, em in zip(part, emb):
                ns = len(e.support)
                rows = np.concatenate([index[e.support], index[e.unlabeled], index[e.query]])
                for stacked in ((False, True) if stack else (False,)):
                    f = np.concatenate([l2_normalize(em), data.extra[rows]], 1) if stacked else em
                    m = get_method("softkmeans", **({"rebalance": 3} if stacked else {}))
                    m.process_support_set(f[:ns], e.support_labels, unlabeled=f[ns:])
                    pred = np.asarray(m.classes_)[m.predict_proba(f[-len(e.query):]).argmax(1)]
                    accs[stacked].append(100 * (pred == e.query_labels).mean())
    out = {"cfg": cfg, "split": split, "shots": shots, "pool": pool, "episodes": episodes,
           "seconds": round(time.time() - t0, 1)}
    for stacked in ((False, True) if stack else (False,)):
        a = np.asarray(accs[stacked])
        key = "stack" if stacked else "acc"
        out[key] = round(float(a.mean()), 2)
        out[key + "_ci"] = round(float(1.96 * a.std(ddof=1) / math.sqrt(len(a))), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/data/clothing17"))
    ap.add_argument("--out", default="finetune_gpu.md")
    ap.add_argument("--budget", type=float, default=480, help="seconds for the whole run")
    ap.add_argument("--grid-episodes", type=int, default=300)
    ap.add_argument("--final-episodes", type=int, default=600)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--model", default=None, help="pickled torch port of the backbone (default: build it)")
    ap.add_argument("--final", default=None, help="skip the grid: final table for this setting (JSON)")
    ap.add_argument("--splits", nargs="+", default=["all", "confirmation", "selection"])
    ap.add_argument("--quick", action="store_true", help="CPU smoke test")
    args = ap.parse_args()
    t_start = time.time()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        args.grid_episodes, args.final_episodes, args.views = 4, 4, 2
    data = Data(args.dataset, dev, args.views, limit_per_class=25 if args.quick else None, model_file=args.model)
    log = open(args.out, "a")

    def record(r):
        line = json.dumps(r)
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    def left():
        return args.budget - (time.time() - t_start)

    print(f"device {dev} {torch.cuda.get_device_name() if dev == 'cuda' else ''}, torch {torch.__version__}", flush=True)
    G = args.grid_episodes
    grid = [dict(cut=17, steps=0, lr=0.0)]
    for cut, lrs in ((17, (1e-4, 3e-4, 1e-3)), (16, (1e-4, 3e-4, 1e-3)), (13, (1e-4, 3e-4, 1e-3)),
                     (0, (1e-4,))):
        grid += [dict(cut=cut, steps=20, lr=lr) for lr in lrs]
    if args.quick:
        grid = [grid[0], dict(cut=16, steps=2, lr=1e-3, ent=0.5)]
    chunk = {0: 20, 13: 50, 16: 100, 17: 100}
    scores = {}
    if args.final:
        grid = []
        scores[args.final] = 1e9
    for cfg in grid:
        est = 90 if cfg["cut"] == 0 else 15
        if left() < 200 + est:
            print(f"skipping {cfg}: {left():.0f} s left", flush=True)
            continue
        res = [evaluate(data, cfg, "selection", 5, pool, G, chunk[cfg["cut"]]) for pool in (0, 10)]
        for r in res:
            record(r)
        scores[json.dumps(cfg)] = np.mean([r["acc"] for r in res])
    base = scores.get(json.dumps(dict(cut=17, steps=0, lr=0.0)), float("nan"))
    best = max(scores, key=scores.get)
    # second stage: longer training and the transductive entropy term, on the best cut / lr
    bcfg = json.loads(best)
    if bcfg["steps"] and not args.final:
        for extra in (dict(steps=40), dict(ent=0.5)):
            cfg = bcfg | extra
            if left() < 200 + (60 if cfg["cut"] == 0 else 20):
                break
            res = [evaluate(data, cfg, "selection", 5, pool, G, chunk[cfg["cut"]]) for pool in (0, 10)]
            for r in res:
                record(r)
            scores[json.dumps(cfg)] = np.mean([r["acc"] for r in res])
    best = max(scores, key=scores.get)
    print(f"chosen on selection: {best} ({scores[best]:.2f} vs frozen {base:.2f})", flush=True)
    # the best adapted setting is run on every split even when the frozen one wins, for the table
    adapted = max((k for k in scores if json.loads(k)["steps"]), key=scores.get, default=None)
    finals = [json.loads(adapted)] if adapted else []
    cut = finals[0]["cut"] if finals else 17
    finals.insert(0, dict(cut=cut, steps=0, lr=0.0))  # frozen at the same cut: same front cache
    for split in args.splits:
        for pool in (0, 10):
            for cfg in finals:
                if left() < 15:
                    print("out of time", flush=True)
                    return
                record(evaluate(data, cfg, split, 5, pool, args.final_episodes, chunk[cfg["cut"]], stack=True))
    if left() > 60:  # 1-shot on all 17 for information (the lever is meant for 5+ shots)
        for cfg in finals:
            record(evaluate(data, cfg, "all", 1, 0, args.final_episodes, chunk[cfg["cut"]]))
    print(f"done in {time.time() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
