"""``fewlens meta-train``: episodic meta-training of a Conv-4 learner (ProtoNet, Siamese, Relation, MAML).

Works the same under ``torchrun --nproc_per_node N -m core.cli meta-train ...`` (DDP).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub) -> None:
    p = sub.add_parser("meta-train", help="meta-train a few-shot learner on episodes (Omniglot or folder-per-class)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", action="append", required=True, metavar="PATH",
                   help="Omniglot zip/folder or folder-per-class dataset; repeat to merge (duplicates dropped)")
    p.add_argument("--method", default="protonet", choices=["protonet", "siamese", "relation", "maml"])
    p.add_argument("--backbone", default="conv4", choices=["conv4"])
    p.add_argument("--ways", type=int, default=20)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--queries", type=int, default=5)
    p.add_argument("--episodes", type=int, default=2000, help="optimizer steps (each averages one episode per process)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/meta.pt", help="checkpoint written periodically and at the end")
    p.add_argument("--resume", metavar="FILE", help="continue exactly from this checkpoint")
    p.add_argument("--export", metavar="FILE",
                   help="also write the best-validation weights as a slim checkpoint (config + weights only, "
                        "what ships in assets/models/omniglot/)")
    p.add_argument("--export-fp16", action="store_true",
                   help="store the exported weights as float16 (half the size; loaded back as float32)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="step", choices=["step", "cosine"],
                   help="step: halve every --lr-halve-every steps; cosine: decay to lr/20 over --lr-horizon steps")
    p.add_argument("--lr-halve-every", type=int, default=1000)
    p.add_argument("--lr-horizon", type=int, default=0, help="cosine horizon (0: --episodes)")
    p.add_argument("--input-size", type=int, default=28)
    p.add_argument("--no-rotations", action="store_true", help="do not add 90/180/270 rotations as extra classes")
    p.add_argument("--no-augment", action="store_true", help="no affine / stroke-thickness augmentation")
    p.add_argument("--within-alphabet", type=float, default=0.5, metavar="P",
                   help="share of episodes drawn from one alphabet (Lake's within-alphabet setting)")
    p.add_argument("--val-alphabets", default="", metavar="A,B",
                   help="held-out groups (alphabets) for validation; never the test set")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--val-episodes", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--inner-lr", type=float, default=0.4, help="MAML inner-loop learning rate")
    p.add_argument("--inner-steps", type=int, default=1, help="MAML inner-loop steps while training")
    p.add_argument("--eval-steps", type=int, default=3, help="MAML inner-loop steps at evaluation")
    p.add_argument("--first-order", action="store_true", help="first-order MAML")
    p.add_argument("--anil", action="store_true", help="adapt only the head in the inner loop (ANIL)")
    p.add_argument("--proto-init", action="store_true",
                   help="MAML: start the head from the support prototypes each episode (Proto-MAML; adapts the head only)")
    p.add_argument("--relation-loss", default="mse", choices=["mse", "ce"],
                   help="Relation net: MSE on sigmoid scores (the paper) or cross-entropy over the classes")
    p.add_argument("--siamese-loss", default="bce", choices=["bce", "ce"],
                   help="Siamese: BCE on same/different pairs (Koch) or cross-entropy over the classes on the pair logits")
    p.add_argument("--init-from", metavar="FILE", default="",
                   help="start the Conv-4 encoder from this checkpoint's (e.g. a bundled ProtoNet id); the head starts fresh")
    p.add_argument("--freeze-backbone", type=int, default=0, metavar="N",
                   help="keep the encoder frozen for the first N steps (train the head only)")
    p.add_argument("--bank-views", type=int, default=4, metavar="V",
                   help="frozen-encoder steps draw embeddings from a bank of V views per image, computed once "
                        "(0: embed each episode's images)")
    p.add_argument("--backbone-lr", type=float, default=1.0, metavar="F",
                   help="encoder learning rate = --lr x F (fine-tune it gently when started from --init-from)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--no-channels-last", action="store_true",
                   help="keep the weights in the default (NCHW) layout on the CPU (channels-last is ~1.3x faster there)")
    p.add_argument("--json", action="store_true", help="print the training summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..meta.trainer import EpisodicTrainer, TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    init_from = ""
    if args.init_from:
        from ..meta.checkpoints import resolve_checkpoint

        init_from = str(resolve_checkpoint(args.init_from))
    cfg = TrainConfig(
        datasets=args.dataset, method=args.method, backbone=args.backbone, ways=args.ways, shots=args.shots,
        queries=args.queries, episodes=args.episodes, lr=args.lr, lr_schedule=args.lr_schedule,
        lr_halve_every=args.lr_halve_every, lr_horizon=args.lr_horizon, seed=args.seed, input_size=args.input_size,
        rotations=not args.no_rotations, augment=not args.no_augment, within_group=args.within_alphabet,
        val_groups=[g for g in args.val_alphabets.split(",") if g], val_every=args.val_every,
        val_episodes=args.val_episodes, checkpoint_every=args.checkpoint_every, inner_lr=args.inner_lr,
        inner_steps=args.inner_steps, eval_steps=args.eval_steps, first_order=args.first_order, anil=args.anil,
        proto_init=args.proto_init, relation_loss=args.relation_loss, siamese_loss=args.siamese_loss, init_from=init_from,
        freeze_backbone=args.freeze_backbone, bank_views=args.bank_views, backbone_lr=args.backbone_lr,
        channels_last=not args.no_channels_last,
    )
    result = EpisodicTrainer(cfg, device=args.device, out=args.out).train(resume=args.resume)
    rank0 = int(os.environ.get("RANK", 0)) == 0
    if args.export and rank0:
        from ..meta.checkpoints import export_slim

        export_slim(args.out, args.export, half=args.export_fp16)
    if args.json and rank0:
        json.dump({"out": args.out, "episodes": result["episodes"], "best": result["best"],
                   "history": result["history"]}, sys.stdout, indent=2)
        print()
    return 0
