"""``fewlens project evaluate P``: how often the project's model is right, judged on its own labels.

    fewlens project evaluate my.fewlens [--method auto] [--json]

Prints the leave-one-out estimate (core.evaluation), the method chosen for the project, the
per-class table, the confusion matrix and the labels the model disagrees with most.  Images
without an embedding yet are embedded first (into the project file, as the GUI would).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import FewLensError


def add_parser(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="estimate accuracy from the project's labels (cross-validation)",
        description="Hold out each labeled image, refit on the others (with the unlabeled images, as the app "
        "does), and report how often the held-out image is predicted right: overall, per class, as a "
        "confusion matrix, and the labels the model disagrees with most.",
    )
    e.add_argument("path", type=Path, metavar="PATH")
    e.add_argument("--method", default=None, help="few-shot method (default: the project's; 'auto' chooses)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="for embedding missing vectors")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(func=run_evaluate)


def project_arrays(proj, backbone: str, device: str = "auto"):
    """(embeddings (N, D), have (N,), labels (N,), records) for every image; vectors not in the
    project's cache are computed now."""
    import numpy as np

    from .shared import embed_into_project

    recs = proj.images()
    vecs = proj.embedding_cache.get_many([r.hash for r in recs], backbone)
    todo = [Path(r.file) for r in recs if r.hash not in vecs and not r.missing]
    if todo:
        print(f"fewlens: embedding {len(todo)} images first", file=sys.stderr)
        embed_into_project(proj, todo, backbone, device)
        vecs = proj.embedding_cache.get_many([r.hash for r in recs], backbone)
    dim = len(next(iter(vecs.values()))) if vecs else 0
    emb = np.zeros((len(recs), dim), np.float32)
    have = np.zeros(len(recs), bool)
    for i, r in enumerate(recs):
        v = vecs.get(r.hash)
        if v is not None:
            emb[i], have[i] = v, True
    labels = np.asarray([-1 if r.class_id is None else r.class_id for r in recs], np.int64)
    return emb, have, labels, recs


def run_evaluate(args: argparse.Namespace) -> int:
    from ..backbones import DEFAULT_BACKBONE
    from ..evaluation import evaluate_labels
    from ..methods import DEFAULT_METHOD, check_embedding_level, method_names
    from ..project import Project

    with Project.open(args.path) as proj:
        method = args.method or proj.get_setting("method") or DEFAULT_METHOD
        if method not in method_names():
            raise FewLensError(f"unknown method {method!r}; choose from: {', '.join(method_names())}")
        try:
            check_embedding_level(method)
        except ValueError as e:
            raise FewLensError(str(e)) from None
        backbone = proj.get_setting("backbone") or DEFAULT_BACKBONE
        emb, have, labels, recs = project_arrays(proj, backbone, args.device)
        names = {c.id: c.name for c in proj.classes()}
    if not (labels >= 0).any():
        raise FewLensError(f"{args.path}: no labeled images to evaluate on")
    ev = evaluate_labels(emb, have, labels, method=method)
    d = ev.to_dict(names)
    d["path"] = str(args.path)
    d["backbone"] = backbone
    for m in d["possible_mislabels"]:
        m["file"] = recs[m.pop("row")].file
    if args.json:
        json.dump(d, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"{args.path}: {ev.headline()}\n")
    out.write(f"  {d['folds']} on the labeled images, {d['scored']} scored; backbone {backbone} (pretrained features)\n")
    if ev.choice is not None:
        sc = ", ".join(f"{k} {100 * v:.1f} %" for k, v in ev.choice.scores.items() if v == v)
        out.write(f"  {ev.choice.message()}" + (f"  [{sc}]" if sc else "") + "\n")
    else:
        out.write(f"  method {method}\n")
    cls = d["classes"]
    w = max([len(c["name"]) for c in cls] + [5])
    pct = lambda v: "   -" if v is None else f"{100 * v:4.0f}"  # noqa: E731
    out.write(f"\n{'class':<{w}}  labels  scored  accuracy  precision  recall\n")
    for c in cls:
        out.write(f"{c['name']:<{w}}  {c['labeled']:>6}  {c['scored']:>6}  {pct(c['accuracy']):>6} %  "
                  f"{pct(c['precision']):>7} %  {pct(c['recall']):>4} %\n")
    cm = d["confusion"]
    short = [n[:6] for n in cm["classes"]]
    out.write(f"\nconfusion (rows: your label, columns: held-out prediction)\n{'':<{w}}  "
              + " ".join(f"{s:>6}" for s in short) + "\n")
    for name, row in zip(cm["classes"], cm["rows_true_columns_predicted"]):
        out.write(f"{name:<{w}}  " + " ".join(f"{v:>6}" for v in row) + "\n")
    if d["possible_mislabels"]:
        out.write("\npossible mislabels (the model, refitted without the label, disagrees):\n")
        for m in d["possible_mislabels"][:10]:
            out.write(f"  {m['file']}: labeled {m['label']}, looks like {m['predicted']} "
                      f"({100 * m['label_prob']:.0f} % for its label)\n")
    return 0
