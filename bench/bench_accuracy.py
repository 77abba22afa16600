"""Accuracy levers and peers on a folder-per-class photo set, same features and episodes for all.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_accuracy.py                       # every lever, M=0 and M=10
    .venv/bin/python bench/bench_accuracy.py --rows peers,default --pool 10 --episodes 100
    .venv/bin/python bench/bench_accuracy.py --timing                                # refit+predict at 10k images

Classes are split once by a seeded permutation: the first 10 choose the levers
("selection"), the other 7 only confirm ("confirmation"); "all" uses every class.
Episodes come from core.episodes (seeded per episode, so every row sees the
same ones).  A method with ``uses_unlabeled`` gets the unlabeled pool plus the
queries, as `fewlens eval --unlabeled-pool M` and the app give it.  Prints
markdown tables (also written to --out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "experiments"))  # --multilayer (accuracy_multilayer)
from accuracy_features import dataset_features  # noqa: E402

from core.episodes import FolderDataset, evaluate, sample_episodes  # noqa: E402
from core.methods import DEFAULT_METHOD, FewShotMethod, get_method  # noqa: E402
from core.methods.base import l2_normalize, softmax  # noqa: E402

DATASET = "/work/shared/data/clothing17"
BACKBONE = "mobilenet_v2_imagenet"


# --------------------------------------------------------------------------- peers (bench-only)
class EasyFSLProtoNet(FewShotMethod):
    """easyfsl's PrototypicalNetworks (Euclidean) on frozen features: an identity backbone."""

    name = "easyfsl-protonet"

    def _fit(self, x, y, unlabeled):
        import torch
        from easyfsl.methods import PrototypicalNetworks

        self.model = PrototypicalNetworks(torch.nn.Identity())
        self.model.process_support_set(torch.from_numpy(x), torch.from_numpy(y))

    def _scores(self, q):
        import torch

        with torch.no_grad():
            return softmax(self.model(torch.from_numpy(q)).numpy().astype(np.float64)).astype(np.float32)


class SimpleShotCL2N(FewShotMethod):
    """SimpleShot CL2N: centered on a fixed dataset mean (of L2-normalized features), L2, nearest centroid."""

    name = "simpleshot-cl2n"

    def __init__(self, mean: np.ndarray):
        super().__init__()
        self.mean = mean

    def _t(self, x):
        return l2_normalize(l2_normalize(x) - self.mean)

    def _fit(self, x, y, unlabeled):
        s = self._t(x)
        p = np.zeros((len(self.classes_), s.shape[1]), np.float32)
        np.add.at(p, y, s)
        self.protos = l2_normalize(p)

    def _scores(self, q):
        return softmax(10.0 * self._t(q) @ self.protos.T).astype(np.float32)


class LogRegL2(FewShotMethod):
    """Linear probe: scikit-learn logistic regression on L2-normalized features (Create ML style)."""

    name = "logreg-l2"

    def _fit(self, x, y, unlabeled):
        from sklearn.linear_model import LogisticRegression

        self.single = len(self.classes_) == 1
        if not self.single:
            self.clf = LogisticRegression(max_iter=1000).fit(l2_normalize(x), y)

    def _scores(self, q):
        if self.single:
            return np.ones((len(q), 1), np.float32)
        return self.clf.predict_proba(l2_normalize(q)).astype(np.float32)


class NearestNeighbor(FewShotMethod):
    """1-NN by cosine similarity; a class's score is its best support example's similarity."""

    name = "1nn-cosine"

    def _fit(self, x, y, unlabeled):
        self.s, self.y = l2_normalize(x), y

    def _scores(self, q):
        sim = l2_normalize(q) @ self.s.T
        best = np.stack([sim[:, self.y == c].max(1) for c in range(len(self.classes_))], 1)
        return softmax(10.0 * best).astype(np.float32)


class WithoutPool(FewShotMethod):
    """Any method fitted on the labeled images only (what the GUI has before an import finishes)."""

    uses_unlabeled = False

    def __init__(self, inner: FewShotMethod):
        super().__init__()
        self.inner, self.name = inner, f"{inner.name} (no pool)"

    def _fit(self, x, y, unlabeled):
        self.inner.process_support_set(x, self.classes_[y], unlabeled=None)

    def _scores(self, q):
        return self.inner.predict_proba(q)


class FeatureEnsemble(FewShotMethod):
    """Any method on features that are a concatenation of per-view blocks, each L2-normalized.

    Used for TTA (crop + flip) and backbone concatenation: the bench hands it the
    stacked blocks; ``blocks`` says where each one ends.
    """

    def __init__(self, inner: FewShotMethod, blocks: list[int], average: bool = False):
        super().__init__()
        self.inner, self.blocks, self.average = inner, blocks, average
        self.uses_unlabeled = inner.uses_unlabeled
        self.name = f"{inner.name}+views"

    def _prep(self, x):
        if x is None:
            return None
        parts = np.split(x, np.cumsum(self.blocks)[:-1], axis=1)
        if self.average:  # same backbone, several views: mean of the views' embeddings
            return np.mean(parts, axis=0).astype(np.float32)
        return np.concatenate([l2_normalize(p) for p in parts], 1).astype(np.float32)

    def _fit(self, x, y, unlabeled):
        self.inner.process_support_set(self._prep(x), self.classes_[y], unlabeled=self._prep(unlabeled))

    def _scores(self, q):
        return self.inner.predict_proba(self._prep(q))


class ExtraViews(FewShotMethod):
    """Support augmentation as extra samples: every view of a labeled (and unlabeled) image is its own sample.

    Features are per-view blocks side by side (crop, flip); support and pool get one row per view
    (labels repeated), queries are scored on the first view (the app's crop).
    """

    def __init__(self, inner: FewShotMethod, views: int = 2):
        super().__init__()
        self.inner, self.views = inner, views
        self.uses_unlabeled = inner.uses_unlabeled
        self.name = f"{inner.name}+extra-views"

    def _stack(self, x):
        return None if x is None else np.concatenate(np.split(x, self.views, axis=1)).astype(np.float32)

    def _fit(self, x, y, unlabeled):
        self.inner.process_support_set(self._stack(x), np.tile(self.classes_[y], self.views),
                                       unlabeled=self._stack(unlabeled))

    def _scores(self, q):
        return self.inner.predict_proba(np.ascontiguousarray(np.split(q, self.views, axis=1)[0]))


class SoftKMeansLogRegBlend(FewShotMethod):
    """Soft k-means prototypes blended with a logistic-regression head trained on the support set
    (hard labels) plus the pool's soft k-means assignments (soft targets; the reject column's share
    is left out, so distractors barely count), initialized from the prototypes, full-batch gradient descent.
    """

    name = "softkmeans+logreg"
    uses_unlabeled = True

    def __init__(self, alpha: float = 0.5, steps: int = 50, lr: float = 0.5, init_scale: float = 10.0):
        super().__init__()
        self.alpha, self.steps, self.lr, self.init_scale = alpha, steps, lr, init_scale

    def _fit(self, x, y, unlabeled):
        from core.methods.transductive import SoftKMeansProtoNet

        self.sk = SoftKMeansProtoNet().process_support_set(x, self.classes_[y], unlabeled=unlabeled)
        tr, protos, c = self.sk.transform, self.sk.prototypes_, len(self.classes_)
        s = tr(x)
        targets = [np.eye(c, dtype=np.float32)[y]]
        feats = [s]
        if unlabeled is not None and len(unlabeled):
            u = tr(self.sk._sample_pool(unlabeled))
            t = self.sk.assign_temperature
            lg = np.concatenate([t * u @ protos.T, np.full((len(u), 1), t * self.sk.reject, np.float32)], 1)
            targets.append(softmax(lg)[:, :c].astype(np.float32))
            feats.append(u)
        X, Y = np.concatenate(feats), np.concatenate(targets)
        rw, tot = Y.sum(1), Y.sum()
        w, b = protos.T * self.init_scale, np.zeros(c, np.float32)
        for _ in range(self.steps):
            g = softmax(X @ w + b) * rw[:, None] - Y
            w = w - self.lr * (X.T @ g) / tot
            b = b - self.lr * g.sum(0) / tot
        self.w, self.b = w.astype(np.float32), b.astype(np.float32)

    def _scores(self, q):
        lr = softmax(self.sk.transform(q) @ self.w + self.b)
        return (self.alpha * self.sk.predict_proba(q) + (1 - self.alpha) * lr).astype(np.float32)


# --------------------------------------------------------------------------- rows
@dataclass
class Row:
    name: str
    features: str  # key into the feature table
    make: Callable[[np.ndarray], FewShotMethod]  # (split features) -> fresh method
    group: str = "lever"


def rows(default_kwargs: dict) -> list[Row]:
    m = get_method
    sk = "softkmeans"
    return [
        # peers, as a user would pick instead
        Row("easyfsl PrototypicalNetworks (Euclidean)", "crop", lambda f: EasyFSLProtoNet(), "peers"),
        Row("cosine ProtoNet, L2-normalized (FewLens `protonet`)", "crop", lambda f: m("protonet"), "peers"),
        Row("SimpleShot CL2N (dataset mean)", "crop", lambda f: SimpleShotCL2N(l2_normalize(f).mean(0)), "peers"),
        Row("logistic regression on L2 features (sklearn)", "crop", lambda f: LogRegL2(), "peers"),
        Row("1-NN cosine", "crop", lambda f: NearestNeighbor(), "peers"),
        Row("FewLens `linear_probe` (NumPy logistic regression)", "crop", lambda f: m("linear_probe"), "transfer"),
        Row("FewLens `maml` (ANIL: head adapted on the support set)", "crop", lambda f: m("maml"), "transfer"),
        # preprocessing
        Row("ProtoNet, squash to 224 (no crop)", "squash", lambda f: m("protonet"), "preprocess"),
        # feature transforms (no refinement)
        Row("CL2N on support mean", "crop", lambda f: m(sk, beta=1.0, center="support", iterations=0)),
        Row("CL2N on pool mean", "crop", lambda f: m(sk, beta=1.0, iterations=0)),
        Row("power 0.5 + CL2N on pool mean", "crop", lambda f: m(sk, beta=0.5, iterations=0)),
        # transductive / semi-supervised
        Row("soft k-means, no reject column", "crop", lambda f: m(sk, reject=None)),
        Row("soft k-means + reject column (softkmeans defaults)", "crop", lambda f: m(sk)),
        Row("soft k-means, 10 iterations, full weight", "crop", lambda f: m(sk, iterations=10, unlabeled_weight=1.0)),
        # views / backbones
        Row("soft k-means, TTA crop+flip (mean embedding)", "crop+flip",
            lambda f: FeatureEnsemble(m(sk), [f.shape[1] // 2] * 2, average=True)),
        Row("ProtoNet, TTA crop+flip", "crop+flip", lambda f: FeatureEnsemble(m("protonet"), [f.shape[1] // 2] * 2, average=True)),
        Row("soft k-means, ImageNet V2 + V1 concatenated", "v2+v1",
            lambda f: FeatureEnsemble(m(sk), [1280, 1024])),
        Row("soft k-means, ImageNet V2 + iNat insects concatenated", "v2+insects",
            lambda f: FeatureEnsemble(m(sk), [1280, 1280])),
        Row("soft k-means on embedding + sqrt(softmax) of the ImageNet head", "v2+head",
            lambda f: FeatureEnsemble(m(sk), [1280, f.shape[1] - 1280])),
        # second round (issue 5, 5-shot push)
        Row("soft k-means, flip view as extra support and pool samples (not averaged)", "crop+flip",
            lambda f: ExtraViews(m(sk)), "lever+"),
        Row("soft k-means, assignment partially rebalanced (3 rounds, sqrt step, reject column free)", "crop",
            lambda f: m(sk, rebalance=3), "lever+"),
        Row("soft k-means + logistic-regression head on support + soft pseudo-labels, blend 0.5", "crop",
            lambda f: SoftKMeansLogRegBlend(), "lever+"),
        Row("soft k-means, + pooled last inverted-residual block (320-d, input of the final 1x1 conv)", "v2+b16",
            lambda f: FeatureEnsemble(m(sk), [1280, 320]), "lever+"),
        Row("soft k-means, + last-block features and partial rebalancing (the two best, stacked)", "v2+b16",
            lambda f: FeatureEnsemble(m(sk, rebalance=3), [1280, 320]), "lever+"),
        Row(f"`{DEFAULT_METHOD}` with no unlabeled images at all (inductive)", "crop",
            lambda f: WithoutPool(m(DEFAULT_METHOD, **default_kwargs)), "no pool"),
        Row(f"**default: `{DEFAULT_METHOD}`** {default_kwargs or ''}", "crop",
            lambda f: m(DEFAULT_METHOD, **default_kwargs), "default"),
    ]


def feature_table(dataset: str, needed: set[str]) -> tuple[FolderDataset, dict[str, np.ndarray]]:
    base_ds, crop = dataset_features(dataset, BACKBONE, "crop")
    table = {"crop": crop}

    def other(backbone, view):
        ds, f = dataset_features(dataset, backbone, view)
        if ds.paths != base_ds.paths:
            raise SystemExit(f"{dataset}: {backbone}/{view} embedded a different file list")
        return f

    if "squash" in needed:
        table["squash"] = other(BACKBONE, "squash")
    if "crop+flip" in needed:
        table["crop+flip"] = np.concatenate([crop, other(BACKBONE, "flip")], 1)
    if "v2+v1" in needed:
        table["v2+v1"] = np.concatenate([crop, other("mobilenet_v1_imagenet", "crop")], 1)
    if "v2+insects" in needed:
        table["v2+insects"] = np.concatenate([crop, other("mobilenet_v2_inat_insects", "crop")], 1)
    if "v2+b16" in needed:
        from accuracy_multilayer import multilayer_features

        ml = multilayer_features(dataset)
        if np.abs(ml["final"] - crop).max() > 1e-3:
            raise SystemExit("multi-layer features do not match the app's embeddings")
        table["v2+b16"] = np.concatenate([crop, ml["b16"]], 1)
    if "v2+head" in needed:
        probs = softmax(other(BACKBONE, "head").astype(np.float64))
        table["v2+head"] = np.concatenate([crop, np.sqrt(probs).astype(np.float32)], 1)
    return base_ds, table


def splits(ds: FolderDataset, seed: int, n_select: int) -> dict[str, list[str]]:
    perm = np.random.default_rng(seed).permutation(len(ds.classes))
    return {"selection": sorted(ds.classes[i] for i in perm[:n_select]),
            "confirmation": sorted(ds.classes[i] for i in perm[n_select:]),
            "all": list(ds.classes)}


def run_accuracy(args) -> str:
    chosen = rows(args.default_kwargs)
    if args.rows != "all":
        wanted = set(args.rows.split(","))
        chosen = [r for r in chosen if r.group in wanted or (r.group in ("lever", "lever+") and "levers" in wanted)]
    ds, table = feature_table(args.dataset, {r.features for r in chosen})
    parts = splits(ds, args.split_seed, args.select)
    cols = [(s, k) for s in parts for k in args.shots]
    out = [f"Classes: selection = {', '.join(parts['selection'])}; confirmation = {', '.join(parts['confirmation'])}.", ""]
    for pool in args.pool:
        head = f"#### {args.ways}-way, {args.queries} queries/class, {args.episodes} episodes, unlabeled pool M={pool}"
        out += [head, "", "| group | method | " + " | ".join(f"{s} {k}-shot" for s, k in cols) + " |",
                "|---|---|" + "---|" * len(cols)]
        print(head, file=sys.stderr)
        episodes = {}
        for s in parts:
            sub = ds.subset(parts[s])
            keep = np.isin(np.asarray(ds.paths, object), np.asarray(sub.paths, object))
            for k in args.shots:
                episodes[s, k] = (keep, sample_episodes(sub.labels, args.ways, k, args.queries, args.episodes,
                                                        seed=args.seed, unlabeled_pool=pool))
        for row in chosen:
            cells = []
            t0 = time.perf_counter()
            for s, k in cols:
                keep, eps = episodes[s, k]
                feats = table[row.features][keep]
                res = evaluate(feats, eps, lambda: row.make(feats))
                cell = f"{res.accuracy:.1f} ± {res.ci95:.1f}"
                if row.group == "default":
                    cell += f" (ECE {res.ece:.1f})"
                cells.append(cell)
            line = f"| {row.group} | {row.name} | " + " | ".join(cells) + " |"
            print(f"{line}  [{time.perf_counter() - t0:.0f}s]", file=sys.stderr, flush=True)
            out.append(line)
        out.append("")
    return "\n".join(out)


def run_timing(args) -> str:
    """Refit + predict of the default method at N cached images, as the GUI does after a label change."""
    ds, table = feature_table(args.dataset, set())
    base = table["crop"]
    rng = np.random.default_rng(0)
    n = args.timing_images
    # a 10k-image project built from the real features plus small noise (same statistics, distinct rows)
    pool = base[rng.integers(0, len(base), n)] * rng.uniform(0.9, 1.1, (n, base.shape[1])).astype(np.float32)
    k = args.timing_labels
    labeled = np.concatenate([np.flatnonzero(ds.labels == c)[:k] for c in range(len(ds.classes))])
    support, labels = base[labeled], np.asarray(ds.classes)[ds.labels[labeled]]
    out = [f"#### Refit + predict at {n} cached images ({len(ds.classes)} classes, {k} labels each), median of 20",
           "", "| method | refit ms | predict ms | total ms |", "|---|---|---|---|"]
    # auto (the default) cross-validates softkmeans and protonet inside its fit: all three, side by side
    for name in dict.fromkeys(["protonet", "softkmeans", DEFAULT_METHOD]):
        kw = args.default_kwargs if name == DEFAULT_METHOD else {}
        method = get_method(name, **kw)
        fit_t, pred_t = [], []
        for _ in range(22):
            t0 = time.perf_counter()
            method.process_support_set(support, labels, unlabeled=pool if method.uses_unlabeled else None)
            t1 = time.perf_counter()
            method.predict(pool, threshold=0.5)
            t2 = time.perf_counter()
            fit_t.append(t1 - t0)
            pred_t.append(t2 - t1)
        f, p = np.median(fit_t[2:]) * 1e3, np.median(pred_t[2:]) * 1e3
        out.append(f"| `{name}` | {f:.1f} | {p:.1f} | {f + p:.1f} |")
        print(out[-1], file=sys.stderr)
    return "\n".join(out) + "\n"


def run_calibration(args) -> str:
    """Fit the default method's output temperature on the selection classes; ECE before/after on every split."""
    from core.episodes import run_episode
    from core.methods.calibration import expected_calibration_error, fit_temperature, scaled_probs

    ds, table = feature_table(args.dataset, set())
    parts = splits(ds, args.split_seed, args.select)
    collected: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for s in parts:
        sub = ds.subset(parts[s])
        keep = np.isin(np.asarray(ds.paths, object), np.asarray(sub.paths, object))
        feats = table["crop"][keep]
        for k in args.shots:
            for pool in args.pool:
                eps = sample_episodes(sub.labels, args.ways, k, args.queries, args.episodes, seed=args.seed,
                                      unlabeled_pool=pool)
                sims, labels, probs = [], [], []
                for ep in eps:
                    m = get_method(DEFAULT_METHOD, **args.default_kwargs)
                    probs.append(run_episode(feats, ep, m))
                    t = getattr(m, "temperature_", None) or m.temperature
                    sims.append(m.logits(feats[ep.query]) / t)  # cosine similarities
                    labels.append(ep.query_labels)
                collected[s, k, pool] = (np.concatenate(sims), np.concatenate(labels), np.concatenate(probs))
    sel = [v for (s, _, _), v in collected.items() if s == "selection"]
    fitted = fit_temperature(np.concatenate([a for a, _, _ in sel]), np.concatenate([b for _, b, _ in sel]))
    out = [f"#### Output temperature of `{DEFAULT_METHOD}`: one temperature fitted on the selection classes (all shots "
           f"and pools pooled, NLL): {fitted:.1f}", "",
           "Per shot count (selection classes): " + ", ".join(
               f"{k}-shot {fit_temperature(np.concatenate([a for (s, kk, _), (a, _, _) in collected.items() if s == 'selection' and kk == k]), np.concatenate([b for (s, kk, _), (_, b, _) in collected.items() if s == 'selection' and kk == k])):.1f}"
               for k in args.shots) + ".", "",
           "| split | shots | pool M | ECE, fixed T=10, % | ECE, one fitted T, % | ECE, the method's own T, % |",
           "|---|---|---|---|---|---|"]
    for (s, k, pool), (sim, lab, probs) in collected.items():
        fixed = expected_calibration_error(scaled_probs(sim, 10.0), lab) * 100
        one = expected_calibration_error(scaled_probs(sim, fitted), lab) * 100
        own = expected_calibration_error(probs, lab) * 100
        out.append(f"| {s} | {k} | {pool} | {fixed:.1f} | {one:.1f} | {own:.1f} |")
    return "\n".join(out) + "\n"


def run_unknown(args) -> str:
    """The support-set "unknown" threshold (leave-one-out, 10th percentile) on pools with distractors.

    Reports how many scored queries (classes the user labeled) and how many
    distractors (images of classes nobody labeled) fall under the threshold.
    """
    from core.methods.calibration import support_unknown_threshold

    ds, table = feature_table(args.dataset, set())
    parts = splits(ds, args.split_seed, args.select)
    pool = max(args.pool)
    out = [f"#### Unknown flag from the support set (`{DEFAULT_METHOD}`, leave-one-out 10th percentile), "
           f"pool M={pool}, {args.episodes} episodes", "",
           "| split | shots | mean threshold | known queries flagged unknown, % | distractors flagged unknown, % |",
           "|---|---|---|---|---|"]
    for s in parts:
        sub = ds.subset(parts[s])
        keep = np.isin(np.asarray(ds.paths, object), np.asarray(sub.paths, object))
        feats = table["crop"][keep]
        for k in [k for k in args.shots if k >= 2]:
            eps = sample_episodes(sub.labels, args.ways, k, args.queries, args.episodes, seed=args.seed,
                                  unlabeled_pool=pool)
            thr, known, distract = [], [], []
            for ep in eps:
                unl = feats[np.concatenate([ep.unlabeled, ep.query])]
                make = lambda: get_method(DEFAULT_METHOD, **args.default_kwargs)  # noqa: E731
                t = support_unknown_threshold(make, feats[ep.support], ep.support_labels, unlabeled=unl)
                m = make().process_support_set(feats[ep.support], ep.support_labels, unlabeled=unl)
                thr.append(t)
                known.append(m.predict(feats[ep.query], t).unknown)
                d = ep.unlabeled[ep.unlabeled_labels < 0]
                distract.append(m.predict(feats[d], t).unknown)
            out.append(f"| {s} | {k} | {np.mean(thr):.2f} | {100 * np.concatenate(known).mean():.1f} | "
                       f"{100 * np.concatenate(distract).mean():.1f} |")
            print(out[-1], file=sys.stderr)
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=DATASET)
    ap.add_argument("--ways", type=int, default=5)
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--queries", type=int, default=15)
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--pool", type=int, nargs="+", default=[0, 10], help="unlabeled pool M per class (several: one table each)")
    ap.add_argument("--seed", type=int, default=0, help="episode seed")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the selection/confirmation class split")
    ap.add_argument("--select", type=int, default=10, help="number of selection classes")
    ap.add_argument("--rows", default="all", help="all, or a comma list of groups: peers,transfer,preprocess,levers,lever+,no pool,default")
    ap.add_argument("--default-kwargs", default="", help="k=v,... passed to the default method (for trying settings)")
    ap.add_argument("--timing", action="store_true", help="measure refit+predict time instead of accuracy")
    ap.add_argument("--timing-images", type=int, default=10_000)
    ap.add_argument("--timing-labels", type=int, default=2, help="labels per class for --timing")
    ap.add_argument("--calibrate", action="store_true", help="fit the default method's output temperature")
    ap.add_argument("--unknown", action="store_true", help="measure the support-set unknown threshold on distractors")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    args = ap.parse_args(argv)
    kw = {}
    for item in filter(None, args.default_kwargs.split(",")):
        k, v = item.split("=")
        kw[k] = None if v == "None" else (float(v) if "." in v else int(v)) if v.lstrip("-").replace(".", "").isdigit() else v
    args.default_kwargs = kw

    t0 = time.time()
    if args.timing:
        body = run_timing(args)
    elif args.calibrate:
        body = run_calibration(args)
    elif args.unknown:
        body = run_unknown(args)
    else:
        body = run_accuracy(args)
    load = os.getloadavg()
    words = ["bench/bench_accuracy.py", *(argv if argv is not None else sys.argv[1:])]
    meta = (f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} .venv/bin/python {shlex.join(words)}`  \n"
            f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load average at end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
            f"backbone {BACKBONE} (ONNX Runtime), run time {time.time() - t0:.0f} s.\n")
    text = meta + "\n" + body
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
