"""Transfer learning: a linear probe on frozen embeddings, and fine-tuning of the backbone's last block.

**Linear probe** (``linear_probe``): multinomial logistic regression on L2-normalized embeddings,
L2-regularised, fitted by full-batch gradient descent with Nesterov momentum in NumPy (convex,
a few hundred tiny steps; no torch on the CPU path).

**Fine-tuning** (``finetune``) needs pixels, not embeddings, so it extends the base with an
*image-level* interface that any method needing images can implement:

    class ImageLevelMethod(FewShotMethod):
        needs_images = True
        def process_support_images(self, images: list[PIL.Image], labels, backbone: str) -> self
        def predict_proba_images(self, images: list[PIL.Image]) -> (M, C)

Callers check ``getattr(method, "needs_images", False)``; the embedding-level calls keep working
(``process_support_set`` / ``predict_proba`` fall back to the linear probe on the embeddings), so
an image-level method can sit in the same registry and in the GUI's method list.  Fine-tuning
builds the backbone in torch (``core.backbones.get_backbone(id).build_torch()``), unfreezes its
last block (the trailing modules holding ``train_fraction`` of the parameters) plus a linear head
initialised from the linear probe, trains a few steps on augmented support images (random resized
crop + horizontal flip) and stops early once the loss on the clean support set stops improving.
"""

from __future__ import annotations

import numpy as np

from .base import FewShotMethod, l2_normalize, softmax


def fit_logreg(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-3, steps: int = 300,
               lr: float = 2.0, temperature: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression on features scaled by ``temperature``; returns (W (C, D), b (C,))."""
    n, d = x.shape
    f = temperature * x
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    # start at the (cosine) prototype classifier: already sensible, so few steps are needed
    W = np.zeros((n_classes, d), np.float32)
    np.add.at(W, y, x)
    W /= np.maximum(np.bincount(y, minlength=n_classes)[:, None], 1)
    b = np.zeros(n_classes, np.float32)
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    mu = 0.9
    step = lr / temperature**2  # gradients scale with temperature^2 through f
    for _ in range(steps):
        Wl, bl = W + mu * vW, b + mu * vb  # Nesterov look-ahead
        p = softmax(f @ Wl.T + bl)
        g = (p - onehot) / n
        gW = g.T @ f + l2 * temperature**2 * Wl
        gb = g.sum(0) * temperature
        vW = mu * vW - step * gW
        vb = mu * vb - step * gb
        W, b = W + vW, b + vb
    return (temperature * W).astype(np.float32), b.astype(np.float32)


class LinearProbe(FewShotMethod):
    name = "linear_probe"

    def __init__(self, l2: float = 1e-3, steps: int = 300, temperature: float = 10.0, center: bool = False):
        super().__init__()
        self.l2 = l2
        self.steps = steps
        self.temperature = temperature
        self.center = center
        self.mean_: np.ndarray | None = None
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None

    def _prep(self, x):
        x = l2_normalize(x)
        if self.mean_ is not None:
            x = l2_normalize(x - self.mean_)
        return x

    def _fit(self, x, y, unlabeled):
        self.mean_ = None
        if self.center:
            pool = l2_normalize(x) if unlabeled is None else np.concatenate([l2_normalize(x), l2_normalize(unlabeled)])
            self.mean_ = pool.mean(0)
        self.W, self.b = fit_logreg(self._prep(x), y, len(self.classes_), self.l2, self.steps,
                                    temperature=self.temperature)

    def logits(self, q):
        return self._prep(q) @ self.W.T + self.b

    def _scores(self, q):
        return softmax(self.logits(q)).astype(np.float32)


class ImageLevelMethod(FewShotMethod):
    """Base for methods that need the images themselves (see the module docstring)."""

    needs_images = True

    def process_support_images(self, images, labels, backbone: str | None = None) -> "ImageLevelMethod":
        raise NotImplementedError

    def predict_proba_images(self, images) -> np.ndarray:
        raise NotImplementedError


def _trailing_params(module, fraction: float):
    """The last modules (in registration order) holding about ``fraction`` of the parameters."""
    leaves = [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]
    total = sum(p.numel() for p in module.parameters())
    chosen, count = [], 0
    for m in reversed(leaves):
        chosen.append(m)
        count += sum(p.numel() for p in m.parameters(recurse=False))
        if count >= fraction * total:
            break
    return chosen


class FineTune(ImageLevelMethod):
    name = "finetune"

    def __init__(self, backbone: str | None = None, steps: int = 30, lr: float = 1e-3, train_fraction: float = 0.15,
                 batch_size: int = 32, patience: int = 5, seed: int = 0, device: str = "cpu"):
        super().__init__()
        self.backbone = backbone
        self.steps = steps
        self.lr = lr
        self.train_fraction = train_fraction
        self.batch_size = batch_size
        self.patience = patience
        self.seed = seed
        self.device = device
        self.probe = LinearProbe()
        self.net = None
        self.spec = None
        self.history_: list[float] = []

    # embedding-level fallback: the linear probe
    def _fit(self, x, y, unlabeled):
        self.probe.classes_ = self.classes_
        self.probe._fit(x, y, unlabeled)

    def _scores(self, q):
        return self.probe._scores(q)

    def _tensor(self, images, augment: bool, gen=None):
        import torch

        from ..preprocess import preprocess

        if not augment:
            return torch.from_numpy(np.stack([preprocess(im, self.spec) for im in images]))
        out = []
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        for im in images:
            w, h = im.size
            s = rng.uniform(0.6, 1.0)
            cw, ch = max(int(w * np.sqrt(s)), 8), max(int(h * np.sqrt(s)), 8)
            x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            crop = im.crop((x0, y0, x0 + cw, y0 + ch))
            if rng.random() < 0.5:
                crop = crop.transpose(0)  # FLIP_LEFT_RIGHT
            out.append(preprocess(crop, self.spec))
        return torch.from_numpy(np.stack(out))

    def process_support_images(self, images, labels, backbone: str | None = None):
        import torch
        import torch.nn.functional as F

        from ..backbones import DEFAULT_BACKBONE, get_backbone

        labels = np.asarray(labels)
        self.classes_, y = np.unique(labels, return_inverse=True)
        self.spec = get_backbone(backbone or self.backbone or DEFAULT_BACKBONE)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = self.spec.build_torch().to(self.device).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        trainable = []
        for m in _trailing_params(net, self.train_fraction):
            for p in m.parameters(recurse=False):
                p.requires_grad_(True)
                trainable.append(p)
        yt = torch.from_numpy(y.astype(np.int64)).to(self.device)
        clean = self._tensor(images, False).to(self.device)
        with torch.no_grad():
            feats = net(clean).float().cpu().numpy()
        # head starts as the linear probe on the frozen features (a good init; fine-tuning refines it)
        self.probe.classes_ = self.classes_
        self.probe._fit(feats, y, None)
        head = torch.nn.Linear(feats.shape[1], len(self.classes_)).to(self.device)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(self.probe.W))
            head.bias.copy_(torch.from_numpy(self.probe.b))

        def logits_of(x):
            return head(F.normalize(net(x), dim=1))

        opt = torch.optim.AdamW([*trainable, *head.parameters()], lr=self.lr, weight_decay=1e-4)
        best, best_state, bad = float("inf"), None, 0
        self.history_ = []
        for _ in range(self.steps):
            net.train()
            for m in net.modules():  # BatchNorm statistics stay frozen: batches of 5 images are too small
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
            idx = torch.randint(len(images), (min(self.batch_size, max(len(images), 8)),), generator=gen)
            xb = self._tensor([images[i] for i in idx.tolist()], True, gen).to(self.device)
            loss = F.cross_entropy(logits_of(xb), yt[idx.to(self.device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():  # early stopping on the clean support set
                sl = float(F.cross_entropy(logits_of(clean), yt))
            self.history_.append(sl)
            if sl < best - 1e-4:
                best, bad = sl, 0
                best_state = ([p.detach().clone() for p in trainable], [p.detach().clone() for p in head.parameters()])
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            with torch.no_grad():
                for p, v in zip(trainable, best_state[0]):
                    p.copy_(v)
                for p, v in zip(head.parameters(), best_state[1]):
                    p.copy_(v)
        self.net, self.head = net.eval(), head.eval()
        return self

    def predict_proba_images(self, images) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if self.net is None:
            raise RuntimeError("finetune: call process_support_images() first")
        out = []
        with torch.no_grad():
            for i in range(0, len(images), 64):
                x = self._tensor(images[i:i + 64], False).to(self.device)
                out.append(torch.softmax(self.head(F.normalize(self.net(x), dim=1)), 1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)), np.float32)
