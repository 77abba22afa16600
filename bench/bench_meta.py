"""Meta-learning suite benchmarks (issue 3): Lake's Omniglot runs and clothing17 episodes.

    .venv/bin/python bench/bench_meta.py lake [--runs /work/shared/data/omniglot/all_runs.zip]
        [--configs protonet:omniglot_conv4_protonet ...] [--episodes 600]
    .venv/bin/python bench/bench_meta.py clothing [--dataset /work/shared/data/clothing17]
        [--backbone mobilenet_v2_imagenet] [--episodes 600] [--finetune-episodes 20]

``lake`` scores each ``method:backbone[,backbone...]`` config on the 400 official queries and on
5-way / 20-way 1-shot episodes drawn from the all_runs images, with the same code as
``fewlens omniglot-lake`` (the equivalent command is printed per row).  ``clothing`` runs every
method on the same 5-way 1-shot / 5-shot episodes of MobileNet embeddings (the ones
``fewlens eval`` draws for this seed), with easyfsl's PrototypicalNetworks as a peer on the
same features; learn2learn's MAML is tried and its import error recorded when it is missing.
Rows are printed as markdown (with a JSON copy under runs/bench_meta/).  Bench-only
dependency: ``easyfsl`` (pip install easyfsl); ``learn2learn`` does not build here (see
bench/results/meta.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FEWLENS_CACHE_DIR", str(ROOT / ".cache" / "fewlens"))


def _header(args) -> str:
    load = os.getloadavg()
    return (f"<!-- {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
            f"`{' '.join(shlex.quote(a) for a in sys.argv)}` -->")


def _save(name: str, rows: list[dict]) -> None:
    d = ROOT / "runs" / "bench_meta"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(rows, indent=2))


# --------------------------------------------------------------------------- Lake
def _tr_specs(specs: list[str]):
    """``none`` -> None (inductive); ``it=3,t=1,w=1`` or ``default`` -> SoftKMeans."""
    from core.commands.lake import SoftKMeansDefaults
    from core.meta.transductive import SoftKMeans

    out = []
    for sp in specs:
        if sp == "none":
            out.append(None)
        elif sp == "default":
            d = SoftKMeansDefaults
            out.append(SoftKMeans(d.iterations, d.temperature, d.weight))
        else:
            out.append(SoftKMeans.parse(sp))
    return out


def _tr_flags(tr) -> str:
    if tr is None:
        return ""
    return f" --transductive --tr-iterations {tr.iterations} --tr-temperature {tr.temperature:g} --tr-weight {tr.weight:g}"


def bench_lake(args) -> None:
    """Lake's 400 queries and all_runs episodes: the TEST set.  Score only configurations chosen on
    validation (``val``), and record every scoring in bench/results/meta.md."""
    import torch

    from core.commands.lake import build_scorers
    from core.meta.lake import load_runs, runs_as_dataset, score_episodes, score_runs

    torch.set_num_threads(1)
    print(_header(args))
    print("| method | backbone | TTA | inference | Lake error % (400 queries) | 5-way 1-shot acc % | 20-way 1-shot acc % | sec | command |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for spec in args.configs:
        method, _, backbone = spec.partition(":")
        for tta in args.tta:
            tta = False if tta == "none" else tta
            for tr in _tr_specs(args.transductive):
                t0 = time.time()
                scorers, size, bb = build_scorers(backbone or None, method, tta, tr)
                runs = load_runs(args.runs, store_size=size * 2)
                res = score_runs(runs, scorers, size)
                ds = runs_as_dataset(runs, size)
                eps = [score_episodes(ds, scorers, w, args.episodes, args.seed) for w in (5, 20)]
                cmd = (f"fewlens omniglot-lake --runs {args.runs} --method {method} --backbone {bb}"
                       f"{f' --tta {tta}' if tta else ' --no-tta'}{_tr_flags(tr)} --episodes {args.episodes} --json")
                inference = f"transductive ({tr.label()})" if tr else "inductive"
                row = {"method": method, "backbone": bb, "tta": tta, "inference": inference,
                       "lake_error_pct": res["error_pct"], "lake_errors": res["errors"],
                       "ep5": eps[0], "ep20": eps[1], "sec": round(time.time() - t0, 1), "command": cmd}
                rows.append(row)
                print(f"| {method} | {bb} | {tta or 'none'} | {inference} | {res['error_pct']:.2f} ({res['errors']}/{res['queries']}) | "
                      f"{100 * eps[0]['accuracy']:.2f} ± {100 * eps[0]['ci95']:.2f} | "
                      f"{100 * eps[1]['accuracy']:.2f} ± {100 * eps[1]['ci95']:.2f} | {row['sec']} | `{cmd}` |", flush=True)
    _save(args.save_as or "lake", rows)


# --------------------------------------------------------------------------- validation (held-out background alphabet)
def bench_val(args) -> None:
    """Choose test-time options on a held-out *background* alphabet, never on all_runs.

    Every (config, TTA) pair embeds each episode once; all ``--transductive`` specs are scored on
    those same embeddings, and each row also gives its per-episode (paired) difference from the
    first spec, which is what decides a knob when two means sit inside each other's CI.
    """
    import torch

    from core.commands.lake import build_scorers
    from core.meta.datasets import load_omniglot

    torch.set_num_threads(1)
    print(_header(args))
    print(f"| method | backbone | TTA | inference | {args.ways}-way 1-shot within-alphabet acc % ({', '.join(args.alphabets)}) "
          f"| paired diff vs first inference row (pts) | command |")
    print("|---|---|---|---|---|---|---|")
    rows, vals = [], {}
    trs = _tr_specs(args.transductive)
    for spec in args.configs:
        method, _, backbone = spec.partition(":")
        for tta in args.tta:
            tta = False if tta == "none" else tta
            scorers, size, bb = build_scorers(backbone or None, method, tta)
            if size not in vals:
                vals[size] = load_omniglot(args.datasets, size).split_by_group(args.alphabets)[1]
            per = _within_group_episodes(vals[size], scorers, args.ways, args.episodes, trs, queries=args.queries,
                                         drop=args.drop_query_classes)
            base = per[0]
            for tr, accs in zip(trs, per):
                a, d = np.asarray(accs), np.asarray(accs) - np.asarray(base)
                r = {"accuracy": float(a.mean()), "ci95": float(1.96 * a.std(ddof=1) / np.sqrt(len(a))),
                     "episodes": args.episodes, "paired_diff": float(d.mean()),
                     "paired_ci95": float(1.96 * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0}
                inference = f"transductive ({tr.label()})" if tr else "inductive"
                rows.append({"method": method, "backbone": bb, "tta": tta, "inference": inference, **r,
                             "per_episode": accs})
                cmd = (f"python bench/bench_meta.py val --configs {spec} --tta {tta or 'none'} --episodes {args.episodes}"
                       f" --transductive {args.transductive[0]} {tr.label() if tr else 'none'}")
                print(f"| {method} | {bb} | {tta or 'none'} | {inference} | {100 * r['accuracy']:.2f} ± {100 * r['ci95']:.2f} | "
                      f"{100 * r['paired_diff']:+.2f} ± {100 * r['paired_ci95']:.2f} | `{cmd}` |", flush=True)
    _save(args.save_as or "val", rows)


def _within_group_episodes(ds, scorers, ways, episodes, trs=(None,), seed=0, queries=1, drop=0.0) -> list[list[float]]:
    """Per-episode accuracies for each transductive spec (None: inductive), on the same episodes.

    ``drop``: share of the classes whose queries are removed (an unbalanced task where some classes
    have no test image at all: transductive refinement must not depend on every class being present).
    """
    from core.meta.sampling import EpisodeShape, episode_rng, sample_episode, to_input

    shape = EpisodeShape(ways, 1, queries)
    accs: list[list[float]] = [[] for _ in trs]
    for i in range(episodes):
        s_np, q_np, _ = sample_episode(ds, shape, episode_rng(seed, i), within_group=1.0)
        yq = np.repeat(np.arange(ways), queries)
        if drop > 0:
            gone = np.random.default_rng([seed, i, 7]).choice(ways, int(round(drop * ways)), replace=False)
            keep = ~np.isin(yq, gone)
            q_np, yq = q_np[keep], yq[keep]
        xs = to_input(s_np, ds.store_size, ds.input_size)
        xq = to_input(q_np, ds.store_size, ds.input_size)
        embs = [s.embeddings(xs, xq) for s in scorers]
        for k, tr in enumerate(trs):
            probs = np.mean([s.probs(*z, transductive=tr) if z is not None else s(xs, xq)
                             for s, z in zip(scorers, embs)], axis=0)
            accs[k].append(float((probs.argmax(1) == yq).mean()))
    return accs


# --------------------------------------------------------------------------- clothing17
class EasyFSLProtoNet:
    """easyfsl's PrototypicalNetworks (Euclidean, as shipped) on the same frozen features."""

    name = "easyfsl_protonet"
    uses_unlabeled = False

    def process_support_set(self, support, labels, unlabeled=None):
        import torch
        from easyfsl.methods import PrototypicalNetworks

        self.classes_, y = np.unique(labels, return_inverse=True)
        self.model = PrototypicalNetworks(torch.nn.Identity())
        self.model.process_support_set(torch.from_numpy(np.asarray(support, np.float32)), torch.from_numpy(y))
        return self

    def predict_proba(self, query):
        import torch

        with torch.no_grad():
            return torch.softmax(self.model(torch.from_numpy(np.asarray(query, np.float32))), 1).numpy()


def bench_clothing(args) -> None:
    import torch

    from core.embedder import Embedder
    from core.embedding_cache import EmbeddingCache
    from core.episodes import EpisodeSampler, FolderDataset, evaluate
    from core.pipeline import embed_files

    torch.set_num_threads(1)
    ds = FolderDataset.from_folder(args.dataset)
    emb = Embedder(args.backbone, device="cpu")
    res = embed_files(ds.paths, emb, cache=EmbeddingCache.default())
    ds, feats = ds.with_embeddings(res.embeddings)
    print(_header(args))
    print(f"| method | backbone | 5-way {' | 5-way '.join(f'{s}-shot acc %' for s in args.shots)} | ms/episode | command |")
    print("|---|---|" + "---|" * len(args.shots) + "---|---|")
    methods = list(args.methods)
    try:
        import easyfsl  # noqa: F401

        methods.append("easyfsl_protonet")
    except ImportError as e:
        print(f"<!-- easyfsl unavailable: {e} -->")
    try:
        import learn2learn  # noqa: F401
    except ImportError as e:
        print(f"<!-- learn2learn unavailable: {e} -->")
    rows = []
    for m in methods:
        cells, ms = [], []
        for shots in args.shots:
            sampler = EpisodeSampler(ds.labels, 5, shots, args.queries, seed=args.seed)
            t0 = time.time()
            method = EasyFSLProtoNet if m == "easyfsl_protonet" else m
            out = evaluate(feats, sampler(args.episodes), method)
            ms.append(1000 * (time.time() - t0) / args.episodes)
            cells.append(out.summary())
        cmd = (f"fewlens eval --dataset {args.dataset} --ways 5 --shots {{{','.join(map(str, args.shots))}}} "
               f"--queries {args.queries} --episodes {args.episodes} --seed {args.seed} --backbone {args.backbone} "
               f"--method {m} --json") if m != "easyfsl_protonet" else \
            f"python bench/bench_meta.py clothing --methods (peer only) --episodes {args.episodes}"
        rows.append({"method": m, "backbone": args.backbone, "results": cells, "ms_per_episode": ms, "command": cmd})
        acc = " | ".join(f"{c['accuracy_pct']:.2f} ± {c['ci95_pct']:.2f} (ECE {c['ece_pct']:.1f})" for c in cells)
        print(f"| {m} | {args.backbone} | {acc} | {' / '.join(f'{x:.0f}' for x in ms)} | `{cmd}` |", flush=True)
    if args.finetune_episodes:
        rows.append(_bench_finetune(args, ds))
    _save(f"clothing_{args.backbone}", rows)


def _bench_finetune(args, ds) -> dict:
    """Image-level fine-tuning on the first ``finetune_episodes`` of the same episodes (it is slow on CPU)."""
    from core.episodes import EpisodeSampler
    from core.images import load_image
    from core.methods.transfer import FineTune

    cells = []
    for shots in args.shots:
        sampler = EpisodeSampler(ds.labels, 5, shots, args.queries, seed=args.seed)
        accs, t0 = [], time.time()
        for ep in sampler(args.finetune_episodes):
            sup = [load_image(ds.paths[i]) for i in ep.support]
            qry = [load_image(ds.paths[i]) for i in ep.query]
            m = FineTune(backbone=args.backbone).process_support_images(sup, ep.support_labels)
            probs = m.predict_proba_images(qry)
            accs.append(float((m.classes_[probs.argmax(1)] == ep.query_labels).mean()))
        a = np.asarray(accs)
        cells.append({"accuracy": 100 * a.mean(), "ci95": 100 * 1.96 * a.std(ddof=1) / np.sqrt(len(a)),
                      "episodes": len(a), "sec_per_episode": (time.time() - t0) / len(a)})
    acc = " | ".join(f"{c['accuracy']:.2f} ± {c['ci95']:.2f} ({c['episodes']} ep)" for c in cells)
    print(f"| finetune (last block + head) | {args.backbone} | {acc} | "
          f"{' / '.join('%.0f' % (1000 * c['sec_per_episode']) for c in cells)} | "
          f"`python bench/bench_meta.py clothing --methods --finetune-episodes {args.finetune_episodes}` |", flush=True)
    return {"method": "finetune", "results": cells}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("lake")
    a.add_argument("--runs", default="/work/shared/data/omniglot/all_runs.zip")
    a.add_argument("--configs", nargs="+", default=["protonet:omniglot_conv4_protonet"],
                   help="method:backbone[,backbone] (bundled ids or checkpoint paths)")
    a.add_argument("--episodes", type=int, default=600)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--tta", nargs="+", default=["shift"], help="TTA modes to score: shift rich none")
    a.add_argument("--transductive", nargs="+", default=["none"],
                   help="inference rows: none (inductive), default, or soft k-means it=N,t=T,w=W")
    a.add_argument("--save-as", default="", help="name of the JSON copy under runs/bench_meta/")
    a.set_defaults(func=bench_lake)
    v = sub.add_parser("val", help="test-time options on a held-out background alphabet")
    v.add_argument("--datasets", nargs="+", default=["/work/shared/data/omniglot/images_background_small1.zip",
                                                     "/work/shared/data/omniglot/images_background_small2.zip"])
    v.add_argument("--alphabets", nargs="+", default=["Korean"])
    v.add_argument("--configs", nargs="+", default=["protonet:omniglot_conv4_protonet"])
    v.add_argument("--ways", type=int, default=20)
    v.add_argument("--queries", type=int, default=1, help="queries per class (Lake's runs: 1)")
    v.add_argument("--drop-query-classes", type=float, default=0.0, metavar="F",
                   help="remove the queries of this share of the classes (unbalanced tasks)")
    v.add_argument("--episodes", type=int, default=200)
    v.add_argument("--tta", nargs="+", default=["shift", "rich", "none"])
    v.add_argument("--transductive", nargs="+", default=["none"],
                   help="inference rows scored on the same embeddings: none (inductive), default, or it=N,t=T,w=W")
    v.add_argument("--save-as", default="", help="name of the JSON copy under runs/bench_meta/")
    v.set_defaults(func=bench_val)
    c = sub.add_parser("clothing")
    c.add_argument("--dataset", default="/work/shared/data/clothing17")
    c.add_argument("--backbone", default="mobilenet_v2_imagenet")
    c.add_argument("--methods", nargs="*", default=["protonet", "siamese", "relation", "maml", "linear_probe"])
    c.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    c.add_argument("--queries", type=int, default=15)
    c.add_argument("--episodes", type=int, default=600)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--finetune-episodes", type=int, default=0)
    c.set_defaults(func=bench_clothing)
    args = ap.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
