"""``fewlens eval``: episodic N-way K-shot accuracy on a folder-per-class dataset.

    fewlens eval --dataset clothing17/ --ways 5 --shots 1 --queries 15 --episodes 600 --seed 0

Every image is embedded once (and cached), then episodes run on the cached
vectors, so trying another method or seed takes seconds.  The same seed gives
the same episodes for every method and backbone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import FewLensError


def register(subparsers) -> None:
    from .shared import add_adapt_argument, add_model_arguments

    p = subparsers.add_parser(
        "eval",
        help="episodic few-shot evaluation on a folder-per-class dataset",
        description="Sample N-way K-shot episodes from DATASET/<class>/<images> and report the mean "
        "query accuracy with its 95%% confidence interval.",
    )
    p.add_argument("--dataset", required=True, type=Path, metavar="DIR", help="folder with one subfolder per class")
    p.add_argument("--ways", type=int, default=5, metavar="N", help="classes per episode (default 5)")
    p.add_argument("--shots", type=int, default=1, metavar="K", help="labeled examples per class (default 1)")
    p.add_argument("--queries", type=int, default=15, metavar="Q", help="scored queries per class (default 15)")
    p.add_argument("--episodes", type=int, default=600, metavar="E", help="number of episodes (default 600)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="episode seed (default 0)")
    add_model_arguments(p)
    add_adapt_argument(p)
    p.add_argument("--unlabeled-pool", type=int, default=0, metavar="M",
                   help="add M unlabeled images per episode class plus M*N distractors from other classes "
                   "(methods that use unlabeled images get them, with the queries)")
    p.add_argument("--classes", nargs="+", metavar="NAME", help="only these class folders (e.g. a held-out split)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..embedder import Embedder
    from ..episodes import EpisodeSampler, FolderDataset, evaluate
    from ..methods import check_embedding_level, get_method
    from ..adaptation import MIN_SHOTS, adapted_episode, adapted_method_kwargs
    from .shared import embed_with_progress, resolve_adapt

    if args.episodes < 1:
        raise FewLensError(f"--episodes must be at least 1, not {args.episodes}")
    try:
        check_embedding_level(args.method)
        uses_unlabeled = bool(get_method(args.method).uses_unlabeled)
    except (ValueError, TypeError) as e:
        raise FewLensError(str(e)) from None

    ds = FolderDataset.from_folder(args.dataset, classes=args.classes)
    from .backbone_args import resolve_backbone

    embedder = Embedder(resolve_backbone(args), device=args.device)
    res = embed_with_progress(ds.paths, embedder, desc=f"embedding {args.dataset.name or args.dataset}")
    ds, feats = ds.with_embeddings(res.embeddings)
    try:
        sampler = EpisodeSampler(ds.labels, args.ways, args.shots, args.queries, seed=args.seed,
                                 unlabeled_pool=args.unlabeled_pool)
    except ValueError as e:
        raise FewLensError(f"{args.dataset}: {e}") from None

    adapt = resolve_adapt(args.adapt, embedder.spec.id, args.shots >= MIN_SHOTS and args.ways >= 2)
    per_episode = None
    if adapt:
        if embedder.device != "cuda":
            print("fewlens: adapting the backbone in every episode takes ~10 s per episode on a CPU "
                  "(--adapt off: frozen features, seconds in all)", file=sys.stderr)
        paths, backbone, device = ds.paths, embedder.spec.id, embedder.device
        per_episode = lambda ep: adapted_episode(paths, feats, ep, backbone, device=device)  # noqa: E731
    bar = tqdm(total=args.episodes, desc=args.method + (" + adapted backbone" if adapt else ""), unit="ep",
               file=sys.stderr, disable=None, leave=False)
    try:
        out = evaluate(feats, sampler(args.episodes), args.method,
                       method_kwargs=adapted_method_kwargs(args.method) if adapt else None,
                       progress=lambda done, total: bar.update(done - bar.n), episode_features=per_episode)
    finally:
        bar.close()

    summary = {
        "dataset": str(args.dataset),
        "classes": len(ds.classes),
        "images": len(ds),
        "ways": args.ways,
        "shots": args.shots,
        "queries": args.queries,
        "seed": args.seed,
        "unlabeled_pool": args.unlabeled_pool,
        "backbone": embedder.spec.id,
        "adapted": adapt,
        "method": args.method,
        "transductive": uses_unlabeled,
        "device": embedder.device_label,
        **out.summary(),
        "skipped_files": [{"path": e.path, "reason": e.reason} for e in res.errors],
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        pool = f", unlabeled pool {args.unlabeled_pool}/class" if args.unlabeled_pool else ""
        print(f"{args.dataset}: {len(ds.classes)} classes, {len(ds)} images")
        print(f"{args.ways}-way {args.shots}-shot, {args.queries} queries/class, {args.episodes} episodes, "
              f"seed {args.seed}{pool}")
        print(f"backbone {embedder.spec.id} ({embedder.device_label})"
              + (", last stage adapted to each episode's labels" if adapt else "")
              + f", method {args.method}" + (" (transductive)" if uses_unlabeled else ""))
        print(f"accuracy {out.accuracy:.2f} % ± {out.ci95:.2f} (95% CI)   ECE {out.ece:.2f} %")
    return 0
