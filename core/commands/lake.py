"""``fewlens omniglot-lake``: Lake et al.'s 20 runs of 20-way within-alphabet one-shot classification.

Prints the error over the 400 queries and per run.  ``--backbone`` names bundled meta-trained
Conv-4 models (``omniglot_conv4_<method>``) or checkpoint files; several, comma-separated, form an
ensemble.  ``--method`` is a meta-trained learner's own head when it matches the checkpoint's
method (``native``: each checkpoint's own), otherwise any ``core.methods`` method run on the Conv-4
embeddings.  Without ``--backbone``, a method with bundled models uses the ensemble of all of them
(``omniglot_conv4_<method>`` + ``omniglot_conv4_<method>_*``; ``native``: the ProtoNets).

Inference is inductive (each test drawing scored on its own, as in the published baselines)
unless ``--transductive``: then the 20 unlabeled test drawings of a run refine the ProtoNet
prototypes (Euclidean soft k-means, ``core.meta.transductive``) before scoring.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser("omniglot-lake", help="Lake's Omniglot one-shot benchmark (20 runs, 400 queries)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, metavar="PATH", help="all_runs.zip or its folder")
    p.add_argument("--backbone", default=None,
                   help="bundled id or checkpoint path; comma-separated for an ensemble (probabilities averaged). "
                        "Default: the ensemble of --method's bundled models (omniglot_conv4_<method> + "
                        "omniglot_conv4_<method>_*; native: the ProtoNets), else the single ProtoNet")
    p.add_argument("--method", default="protonet",
                   help="protonet/siamese/relation/maml (a checkpoint's own head), native (each ensemble member's "
                        "own head) or any fewlens method name applied to the Conv-4 embeddings")
    p.add_argument("--no-tta", action="store_true", help="no test-time augmentation")
    p.add_argument("--tta", default="shift", choices=["shift", "rich"],
                   help="test-time views: 1-px shifts (default) or shifts + small rotations/scales/stroke widths")
    p.add_argument("--episodes", type=int, default=0, metavar="E",
                   help="also score E episodes of 5-way and 20-way 1-shot drawn from the all_runs images")
    p.add_argument("--transductive", action="store_true",
                   help="refine the ProtoNet prototypes with the unlabeled test drawings (Euclidean soft k-means); "
                        "uses the run's 20 test images together, so it is not comparable to published inductive scores")
    p.add_argument("--tr-iterations", type=int, default=SoftKMeansDefaults.iterations, metavar="N",
                   help="soft k-means iterations (default %(default)s, chosen on held-out Korean)")
    p.add_argument("--tr-temperature", type=float, default=SoftKMeansDefaults.temperature, metavar="T",
                   help="soft-assignment temperature on squared distances (default %(default)s)")
    p.add_argument("--tr-weight", type=float, default=SoftKMeansDefaults.weight, metavar="W",
                   help="weight of a fully assigned test drawing vs the labeled one (default %(default)s, tuned "
                        "for Lake-shaped runs where every class has a test drawing; use --tr-temperature 1 "
                        "--tr-weight 0.5 when some classes may have none)")
    p.add_argument("--record", action="store_true",
                   help="store the inductive Lake error and its 95 %% interval in the model's JSON sidecar (own head): "
                        "one model under 'measured' (what the app's method picker shows), an ensemble under "
                        "'measured_ensemble' of its first member")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


class SoftKMeansDefaults:
    """Transductive defaults of ``omniglot-lake``, chosen on held-out Korean episodes shaped like Lake's runs
    (every class has one test drawing): +5.4 points there.  The heavy query weight is specific to that
    shape: when half the classes have no test image it costs 20 points; ``temperature=1, weight=0.5``
    is the robust setting (+2.1 there, +0.9 on Lake-shaped tasks).  See bench/results/meta.md.
    Plain numbers here, not a ``SoftKMeans``: building the CLI parser must not import torch.
    """

    iterations = 10
    temperature = 2.0
    weight = 5.0


def transductive_from_args(args):
    from ..meta.transductive import SoftKMeans

    if not getattr(args, "transductive", False):
        return None
    return SoftKMeans(args.tr_iterations, args.tr_temperature, args.tr_weight)


def default_backbone(method: str, bundled: dict) -> str:
    """The bundled model(s) ``--method`` uses when ``--backbone`` is not given.

    A method with a bundled model (``omniglot_conv4_<method>``) defaults to the ensemble of it and
    its independently trained ``omniglot_conv4_<method>_*`` siblings (for ProtoNet the ensemble beat
    the single model on held-out Korean, bench/results/meta.md); ``native`` to the ProtoNets;
    embedding methods to the single ProtoNet.
    """
    head = "protonet" if method == "native" else method
    base = f"omniglot_conv4_{head}"
    if base not in bundled:
        return "omniglot_conv4_protonet"
    members = [k for k in bundled if k == base or k.startswith(base + "_")]
    return ",".join(sorted(members, key=lambda k: (k != base, k)))


def build_scorers(backbone: str | None, method: str, tta: bool | str, transductive=None):
    from ..meta.checkpoints import bundled_checkpoints, load_learner, resolve_checkpoint
    from ..lake_scoring import LearnerScorer

    if backbone is None:
        backbone = default_backbone(method, bundled_checkpoints())
    scorers, sizes = [], set()
    for name in [b for b in backbone.split(",") if b]:
        learner, cfg = load_learner(resolve_checkpoint(name))
        native = method in ("native", cfg.get("method"))
        if transductive is not None and not native:
            from ..errors import FewLensError

            raise FewLensError(f"--transductive refines a ProtoNet's own prototypes ({name} is scored with --method "
                               f"{method}); for embedding methods use --method softkmeans")
        scorers.append(LearnerScorer(learner, None if native else method, tta=tta,
                                     transductive=transductive if native else None))
        sizes.add(int(cfg.get("input_size", 28)))
    if len(sizes) != 1:
        from ..errors import FewLensError

        raise FewLensError(f"ensemble members use different input sizes {sorted(sizes)}; pick one size")
    return scorers, sizes.pop(), backbone


def run(args) -> int:
    from ..meta.lake import load_runs, runs_as_dataset, score_episodes, score_runs

    tr = transductive_from_args(args)
    scorers, size, backbone = build_scorers(args.backbone, args.method, False if args.no_tta else args.tta, tr)
    runs = load_runs(args.runs, store_size=size * 2)
    res = {"backbone": backbone, "method": args.method, "tta": False if args.no_tta else args.tta,
           "transductive": tr.label() if tr else None, **score_runs(runs, scorers, size)}
    if args.episodes:
        ds = runs_as_dataset(runs, size)
        res["episodes"] = [score_episodes(ds, scorers, w, args.episodes, args.seed) for w in (5, 20) if w <= len(ds)]
    if args.record:
        record(args, backbone, res)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        for r in res["runs"]:
            print(f"{r['run']}: {r['errors']}/{r['queries']} wrong ({r['error_pct']:.1f} %)")
        lo, hi = res["error_ci95_pct"]
        print(f"Lake one-shot error: {res['error_pct']:.2f} % ({res['errors']}/{res['queries']}; 95 % interval "
              f"{lo:.1f}-{hi:.1f} %) "
              f"[{args.method} on {backbone}{(', TTA ' + res['tta']) if res['tta'] else ''}"
              f"{(', transductive ' + res['transductive']) if res['transductive'] else ', inductive'}]")
        for e in res.get("episodes", []):
            print(f"{e['ways']}-way 1-shot episodes: {100 * e['accuracy']:.2f} +- {100 * e['ci95']:.2f} %")
    return 0


def record(args, backbone: str, res: dict) -> None:
    """Write the score into the scored checkpoint's sidecar: inductive, own head, default shift TTA
    only, so what the picker shows is the published-comparable number.  One model: ``measured``
    (what the picker reads).  An ensemble: ``measured_ensemble`` in its first member's sidecar, with
    every member's hash, so the single model's own score is never overwritten by the ensemble's."""
    import datetime

    from ..errors import FewLensError
    from ..meta.checkpoints import _file_sha256, read_config, record_measurement, resolve_checkpoint

    names = [b for b in backbone.split(",") if b]
    if not names or args.transductive or args.no_tta or args.tta != "shift":
        raise FewLensError("--record scores inductively, with the default TTA")
    paths = [resolve_checkpoint(n) for n in names]
    for p in paths:
        if args.method not in ("native", read_config(p).get("method")):
            raise FewLensError(f"--record needs the checkpoint's own head (--method {read_config(p).get('method')})")
    flag = f" --backbone {backbone}" if args.backbone else ""
    measured = {
        "benchmark": "lake_one_shot_20way", "lake_error_pct": res["error_pct"], "errors": res["errors"],
        "queries": res["queries"], "lake_error_ci95_pct": res["error_ci95_pct"], "inference": "inductive, TTA shift",
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"fewlens omniglot-lake --runs all_runs.zip{flag} --method {args.method} --record",
    }
    if len(paths) == 1:
        record_measurement(paths[0], measured)
        return
    measured["members"] = names
    measured["members_sha256"] = [_file_sha256(p) for p in paths]
    record_measurement(paths[0], measured, key="measured_ensemble")
