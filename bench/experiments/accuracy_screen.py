"""Quick screening of 5-shot levers on cached features (scratch harness behind the exploratory table).

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/accuracy_screen.py VARIANT "{kwargs}" EPISODES [selection|confirmation|all]

Prints 5-way accuracy (%) for 1-shot M=0, 1-shot M=10, 5-shot M=0, 5-shot M=10 on the bench's class split and
episodes (core.episodes, seed 0).  VARIANT: base (soft k-means; kwargs iters, T, w, rej, sinkhorn=rebalancing
rounds, beta, feat=([views], [weights]) with views from crop, flip, final, gem, b16, b15, b12), aug (flip as extra
samples), lr (logistic-regression head blend), lap (Laplacian kNN smoothing), maha (shrunk within-class Mahalanobis).
Features are cached under runs/g/.
"""
import os
import sys, time, numpy as np
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'bench')); sys.path.insert(0, ROOT); os.chdir(ROOT)
from accuracy_features import dataset_features
from bench_accuracy import splits
from core.episodes import sample_episodes
from core.methods.base import l2_normalize, softmax
from core.methods.features import FeatureTransform

DS = '/work/shared/data/clothing17'
from core.episodes import FolderDataset
ds = FolderDataset.from_folder(DS)
os.makedirs('runs/g', exist_ok=True)
if not os.path.exists('runs/g/feats.npz'):
    _, crop = dataset_features(DS, 'mobilenet_v2_imagenet', 'crop', quiet=True)
    _, flip = dataset_features(DS, 'mobilenet_v2_imagenet', 'flip', quiet=True)
    np.savez('runs/g/feats.npz', crop=crop, flip=flip)
z = np.load('runs/g/feats.npz'); crop, flip = z['crop'], z['flip']
parts = splits(ds, 0, 10)

def sk_protos(s, ys, u, c, iters=3, T=20., w=0.5, rej=0.2, sinkhorn=0):
    oh = np.eye(c, dtype=np.float32)[ys]
    ls, cnt = oh.T @ s, oh.sum(0)
    p = l2_normalize(ls / cnt[:, None])
    W = None
    for _ in range(iters):
        lg = T * (u @ p.T)
        if rej is not None:
            lg = np.concatenate([lg, np.full((len(u), 1), T * rej, np.float32)], 1)
        P = softmax(lg)
        for _ in range(sinkhorn):  # unbalanced: class-column marginals = estimated from mass, shrunk toward equal
            mass = P[:, :c].sum(0)
            tgt = mass.sum() / c
            P[:, :c] *= (tgt / np.maximum(mass, 1e-6)) ** 0.5
            P /= P.sum(1, keepdims=True)
        W = P[:, :c] * w
        p = l2_normalize((ls + W.T @ u) / (cnt + W.sum(0))[:, None])
    return p, W

def lr_head(s, ys, u, Pu, c, init, steps=50, lr=0.5, wd=0.0, upw=1.0, T0=10.):
    # multinomial LR on support (hard) + pool (soft targets, row mass = confidence)
    Wt = init.T.copy() * T0  # (D, c)
    b = np.zeros(c, np.float32)
    Ys = np.eye(c, dtype=np.float32)[ys]
    X = np.concatenate([s, u]) if u is not None else s
    Y = np.concatenate([Ys, Pu * upw]) if u is not None else Ys
    rw = Y.sum(1)
    tot = rw.sum()
    for _ in range(steps):
        pr = softmax(X @ Wt + b)
        g = pr * rw[:, None] - Y
        Wt -= lr * (X.T @ g / tot + wd * Wt)
        b -= lr * g.sum(0) / tot
    return Wt, b

def laplacian(a, u_all, k=5, lam=1.0, iters=10):
    # a: unary logits (n, c) of u_all; kNN affinity
    S = u_all @ u_all.T
    np.fill_diagonal(S, -np.inf)
    idx = np.argpartition(-S, k, 1)[:, :k]
    Wm = np.zeros_like(S); rows = np.arange(len(S))[:, None]
    Wm[rows, idx] = 1.0
    Wm = (Wm + Wm.T) / 2
    Y = softmax(a)
    for _ in range(iters):
        Y = softmax(a + lam * Wm @ Y)
    return Y

def run(variant, split, shots, pool, n_ep, feat=None, **kw):
    sub = ds.subset(parts[split])
    keep = np.isin(np.asarray(ds.paths, object), np.asarray(sub.paths, object))
    F, Fl = crop[keep], flip[keep]
    if feat is not None:
        F = build(*feat)[keep]
    eps = sample_episodes(sub.labels, 5, shots, 15, n_ep, seed=0, unlabeled_pool=pool)
    accs = []
    for ep in eps:
        uidx = np.concatenate([ep.unlabeled, ep.query])
        accs.append((variant(F, Fl, ep, uidx, **kw) == ep.query_labels).mean())
    a = np.array(accs) * 100
    return a.mean(), 1.96 * a.std() / np.sqrt(len(a))

def v_base(F, Fl, ep, uidx, beta=1.0, **kw):
    tr = FeatureTransform(beta=beta)
    s, u = tr.fit_transform(F[ep.support], F[uidx])
    p, _ = sk_protos(s, ep.support_labels, u, 5, **kw)
    return (tr(F[ep.query]) @ p.T).argmax(1)

def v_aug(F, Fl, ep, uidx, pool_flip=False, q_avg=False, **kw):
    tr = FeatureTransform()
    S = np.concatenate([F[ep.support], Fl[ep.support]]); ys = np.concatenate([ep.support_labels] * 2)
    U = np.concatenate([F[uidx], Fl[uidx]]) if pool_flip else F[uidx]
    s, u = tr.fit_transform(S, U)
    p, _ = sk_protos(s, ys, u, 5, **kw)
    sc = tr(F[ep.query]) @ p.T
    if q_avg: sc = sc + tr(Fl[ep.query]) @ p.T
    return sc.argmax(1)

def v_lr(F, Fl, ep, uidx, alpha=0.5, aug=False, steps=50, lr=0.5, upw=1.0, Tout=10., wd=0.0, **kw):
    tr = FeatureTransform()
    S, ys = F[ep.support], ep.support_labels
    if aug:
        S = np.concatenate([S, Fl[ep.support]]); ys = np.concatenate([ys, ys])
    s, u = tr.fit_transform(S, F[uidx])
    p, W = sk_protos(s, ys, u, 5, **kw)
    Wt, b = lr_head(s, ys, u, W / 0.5, 5, p, steps=steps, lr=lr, upw=upw, wd=wd)
    q = tr(F[ep.query])
    pr = alpha * softmax(Tout * q @ p.T) + (1 - alpha) * softmax(q @ Wt + b)
    return pr.argmax(1)

def v_lap(F, Fl, ep, uidx, k=5, lam=1.0, Tq=20., **kw):
    tr = FeatureTransform()
    s, u = tr.fit_transform(F[ep.support], F[uidx])
    p, _ = sk_protos(s, ep.support_labels, u, 5, **kw)
    Y = laplacian(Tq * u @ p.T, u, k=k, lam=lam)
    nq = len(ep.query)
    return Y[-nq:].argmax(1)

V = dict(base=v_base, aug=v_aug, lr=v_lr, lap=v_lap)

def build(names, weights):
    from accuracy_multilayer import multilayer_features
    ml = multilayer_features(DS)
    blocks = []
    for n, w in zip(names, weights):
        x = crop if n == 'crop' else (flip if n == 'flip' else ml[n])
        blocks.append(w * l2_normalize(x))
    return np.concatenate(blocks, 1).astype(np.float32)


def v_maha(F, Fl, ep, uidx, a=0.5, **kw):
    tr = FeatureTransform()
    s, u = tr.fit_transform(F[ep.support], F[uidx])
    ys = ep.support_labels
    p, W = sk_protos(s, ys, u, 5, **kw)
    # within-class scatter from support residuals + soft pool residuals (around unnormalized class means)
    oh = np.eye(5, dtype=np.float32)[ys]
    mu = (oh.T @ s + W.T @ u) / (oh.sum(0) + W.sum(0))[:, None]
    R = [s - mu[ys]]
    R.append((np.sqrt(W)[:, :, None] * (u[:, None, :] - mu[None])).reshape(-1, s.shape[1]))
    R = np.concatenate(R)
    tot = oh.sum() + W.sum()
    C = R.T @ R / tot
    C = C / (np.trace(C) / C.shape[0])
    S = (1 - a) * C + a * np.eye(C.shape[0], dtype=np.float32)
    ev, V = np.linalg.eigh(S)
    Wh = (V / np.sqrt(ev)) @ V.T
    q = tr(F[ep.query])
    qw, mw = q @ Wh, mu @ Wh
    d = ((qw[:, None, :] - mw[None]) ** 2).sum(-1)
    return d.argmin(1)
V['maha'] = v_maha

if __name__ == '__main__':
    import ast
    name = sys.argv[1]; kw = ast.literal_eval(sys.argv[2]) if len(sys.argv) > 2 else {}
    n_ep = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    split = sys.argv[4] if len(sys.argv) > 4 else 'selection'
    t0 = time.time(); res = []
    for shots in (1, 5):
        for pool in (0, 10):
            m, ci = run(V[name], split, shots, pool, n_ep, **kw)
            res.append(f'{m:.1f}')
    print(f'{name} {kw} [{split} {n_ep}ep] 1s/M0 1s/M10 5s/M0 5s/M10: ' + ' '.join(res) + f'  ({time.time()-t0:.0f}s)', flush=True)
