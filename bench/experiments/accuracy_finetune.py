"""Bench-only: per-episode fine-tuning of MobileNetV2's final 1x1 conv on cached activations (5-shot lever).

The final conv (320 -> 1280, folded BatchNorm bias, ReLU6) is the only layer between the last
inverted-residual block and the embedding.  Its input maps (320 x 7 x 7 per image at the app's 224
crop) are cached once, so adapting that conv per episode costs no backbone pass.  Since the conv is
1x1, flipping or cropping its input map equals flipping or cropping its output map: augmentation is
free too.

Per episode (labeled support, unlabeled pool + queries, as the app has them):
1. z = W x + b for every image (pre-activation maps, 1280 x 7 x 7), once.
2. Adapt the conv: ``film`` trains a per-channel scale and shift of z (2 x 1280 parameters, the
   BatchNorm-only / BitFit recipe); ``lora`` adds a rank-r update (W + A B) x.  The head is a
   cosine classifier on the app's transform (L2, minus the pool mean, L2) initialized at the class
   means; loss: cross-entropy on augmented support views (random 5x5 / 6x6 crops of the 7x7 map,
   random flips) + an L2 pull of the adapted parameters toward the pretrained ones.  Early stop:
   when the support loss falls below ``stop_loss`` (or after ``steps``).
3. Embed everything with the adapted conv and run the default ``softkmeans`` on those embeddings
   (``--extra VIEWS`` stacks fixed views after it, accuracy_multiview syntax; ``--rebalance N`` passes
   ``softkmeans(rebalance=N)``).

Results and the exact commands: bench/results/accuracy.md, third round.

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_finetune.py --mode film --episodes 200 --split selection
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from accuracy_resolution import DATASET, geometry_pixels  # noqa: E402
from core.backbones import get_backbone  # noqa: E402
from core.episodes import FolderDataset, evaluate, sample_episodes  # noqa: E402
from core.images import load_image  # noqa: E402
from core.methods import get_method  # noqa: E402
from core.methods.base import l2_normalize  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.preprocess import normalize  # noqa: E402


def last_conv_inputs(view: str = "crop:256:224", dataset: str = DATASET):
    """((n, 320, h, w) float16 input maps of the final conv, W (1280, 320), b (1280,)), cached."""
    spec = get_backbone("mobilenet_v2_imagenet")
    ds = FolderDataset.from_folder(dataset)
    key = hashlib.sha256(repr((spec.weights_id(), "lastconv-v1", view, [str(p) for p in ds.paths])).encode())
    out = cache_dir() / "bench" / f"mobilenet_v2_imagenet-lastconv-{view.replace(':', '_')}-{key.hexdigest()[:16]}.npz"
    if not out.exists():
        torch.set_num_threads(1)
        model = spec.build_torch().eval()
        maps = []
        with torch.no_grad():
            for i in range(0, len(ds.paths), 32):
                x = np.stack([normalize(geometry_pixels(load_image(p, min_side=None), view), spec)
                              for p in ds.paths[i : i + 32]])
                maps.append(model.blocks(model.stem(torch.from_numpy(x))).numpy().astype(np.float16))
        conv = model.last.conv
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, maps=np.concatenate(maps), W=conv.weight.detach().numpy()[:, :, 0, 0], b=conv.bias.detach().numpy())
        tmp.replace(out)
    z = np.load(out)
    return z["maps"], z["W"], z["b"]


class LastConvFineTune:
    """A FewShotMethod-like factory output: fits on maps (indices into the cached activations)."""

    uses_unlabeled = True

    def __init__(self, maps, W, b, mode="film", steps=30, lr=0.01, rank=8, pull=1.0, stop_loss=0.05,
                 temperature=10.0, views=2, seed=0, train_head=True):
        self.maps, self.W, self.b = maps, torch.from_numpy(W), torch.from_numpy(b)
        self.mode, self.steps, self.lr, self.rank, self.pull = mode, steps, lr, rank, pull
        self.stop_loss, self.temperature, self.views, self.seed, self.train_head = stop_loss, temperature, views, seed, train_head

    def embeddings(self, idx_support, y, idx_unlabeled):
        """Adapted embeddings (n_support + n_unlabeled, 1280) and steps used."""
        g = torch.Generator().manual_seed(self.seed)
        xs = torch.from_numpy(self.maps[idx_support].astype(np.float32))
        xu = torch.from_numpy(self.maps[idx_unlabeled].astype(np.float32))
        zs = torch.einsum("oc,nchw->nohw", self.W, xs) + self.b[None, :, None, None]
        zu = torch.einsum("oc,nchw->nohw", self.W, xu) + self.b[None, :, None, None]
        C = self.W.shape[0]
        gamma = torch.ones(C, requires_grad=True)
        beta = torch.zeros(C, requires_grad=True)
        A = torch.zeros(C, self.rank, requires_grad=True)
        B = (torch.randn(self.rank, xs.shape[1], generator=g) * 0.01).requires_grad_(True)
        params = [gamma, beta] if self.mode == "film" else [A, B]

        def act(z, x):
            if self.mode == "lora":
                # rank-r path first (n, r, h, w): never form the full 1280 x 320 update
                z = z + torch.einsum("or,nrhw->nohw", A, torch.einsum("rc,nchw->nrhw", B, x))
            else:
                z = z * gamma[None, :, None, None] + beta[None, :, None, None]
            return F.relu6(z)

        with torch.no_grad():
            mean = F.normalize(act(zu, xu).mean((2, 3)), dim=1).mean(0)

        def transform(e):
            return F.normalize(F.normalize(e, dim=1) - mean, dim=1)

        ys = torch.from_numpy(np.asarray(y, np.int64))
        c = int(ys.max()) + 1
        with torch.no_grad():
            fs = transform(act(zs, xs).mean((2, 3)))
            protos = torch.stack([fs[ys == k].mean(0) for k in range(c)])
        protos.requires_grad_(self.train_head)
        opt = torch.optim.Adam(params + ([protos] if self.train_head else []), lr=self.lr)
        h, w = xs.shape[2:]
        used = 0
        for step in range(self.steps):
            views, labels = [], []
            for _ in range(self.views):
                s = int(torch.randint(h - 2, h + 1, (1,), generator=g))  # crop side h-2..h
                i0 = int(torch.randint(0, h - s + 1, (1,), generator=g))
                j0 = int(torch.randint(0, w - s + 1, (1,), generator=g))
                zc, xc = zs[:, :, i0 : i0 + s, j0 : j0 + s], xs[:, :, i0 : i0 + s, j0 : j0 + s]
                if bool(torch.rand(1, generator=g) < 0.5):
                    zc, xc = zc.flip(3), xc.flip(3)
                views.append(act(zc, xc).mean((2, 3)))
                labels.append(ys)
            f = transform(torch.cat(views))
            logits = self.temperature * f @ F.normalize(protos, dim=1).T
            loss = F.cross_entropy(logits, torch.cat(labels))
            used = step + 1
            if loss.item() < self.stop_loss:
                break
            reg = sum(((p - p0) ** 2).sum() for p, p0 in
                      ((gamma, 1.0), (beta, 0.0), (A, 0.0))) if self.mode == "film" else (A @ B).pow(2).sum()
            opt.zero_grad()
            (loss + self.pull * reg).backward()
            opt.step()
        with torch.no_grad():
            es = act(zs, xs).mean((2, 3))
            eu = act(zu, xu).mean((2, 3))
        return torch.cat([es, eu]).numpy(), used


def run(args):
    from bench_accuracy import splits

    maps, W, b = last_conv_inputs(args.view)
    ds = FolderDataset.from_folder(DATASET)
    parts = splits(ds, 0, 10)
    paths = np.asarray([str(p) for p in ds.paths], object)
    sub = ds.subset(parts[args.split])
    keep = np.flatnonzero(np.isin(paths, np.asarray([str(p) for p in sub.paths], object)))
    kw = dict(mode=args.mode, steps=args.steps, lr=args.lr, rank=args.rank, pull=args.pull,
              stop_loss=args.stop_loss, temperature=args.temperature, train_head=not args.fixed_head)
    ft = LastConvFineTune(maps, W, b, **kw)
    extra = None
    if args.extra:
        from accuracy_multiview import view_matrix

        extra = view_matrix(args.extra)
    res = []
    t0 = time.time()
    for pool in args.pools:
        eps = sample_episodes(sub.labels, 5, args.shots, 15, args.episodes, seed=0, unlabeled_pool=pool)
        accs, steps = [], []
        for ep in eps:
            uidx = np.concatenate([ep.unlabeled, ep.query])
            emb, used = ft.embeddings(keep[ep.support], ep.support_labels, keep[uidx])
            steps.append(used)
            ns = len(ep.support)
            if extra is not None:  # stack: adapted embedding + fixed views, each L2-normalized
                rows = np.concatenate([keep[ep.support], keep[uidx]])
                emb = np.concatenate([l2_normalize(emb), extra[rows]], 1)
            m = get_method("softkmeans", rebalance=args.rebalance)
            m.process_support_set(emb[:ns], ep.support_labels, unlabeled=emb[ns:])
            pred = m.predict_proba(emb[-len(ep.query):]).argmax(1)
            accs.append((np.asarray(m.classes_)[pred] == ep.query_labels).mean())
        a = np.array(accs) * 100
        res.append(f"M{pool} {a.mean():.1f}±{1.96 * a.std() / np.sqrt(len(a)):.1f} (steps {np.mean(steps):.1f})")
    kw.update(extra=args.extra, rebalance=args.rebalance)
    print(f"finetune {kw} {args.split} {args.shots}s {args.episodes}ep: " + "  ".join(res)
          + f"  ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--view", default="crop:256:224")
    ap.add_argument("--mode", default="film", choices=["film", "lora"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--pull", type=float, default=1.0)
    ap.add_argument("--stop-loss", type=float, default=0.05)
    ap.add_argument("--temperature", type=float, default=10.0)
    ap.add_argument("--fixed-head", action="store_true")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--split", default="selection")
    ap.add_argument("--extra", default="", help="fixed views stacked after the adapted embedding (accuracy_multiview syntax)")
    ap.add_argument("--rebalance", type=int, default=0, help="softkmeans(rebalance=...) on the result")
    ap.add_argument("--pools", nargs="+", type=int, default=[0, 10])
    run(ap.parse_args())
