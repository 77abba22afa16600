"""Episodic learners: a backbone plus a method-specific way to score queries against a support set.

Every learner is an ``nn.Module`` whose ``forward(xs, ys, xq, yq, ways)`` returns ``(loss, acc)``
for one episode (so DistributedDataParallel can wrap it), and ``logits(xs, ys, xq, ways)`` scores
queries at evaluation time.  Learners are rebuilt from a config dict (see :func:`build_learner`),
which is what checkpoints store next to the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv4 import Conv4
from .functional import FunctionalLearner
from .heads import RelationHead, SiameseHead, class_means

LEARNERS = ("protonet", "siamese", "relation", "maml")


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == y).float().mean()


class EpisodicLearner(nn.Module):
    method = "base"

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def logits(self, xs, ys, xq, ways: int) -> torch.Tensor:
        z = self.embed(torch.cat([xs, xq]))
        return self.logits_z(z[: len(xs)], ys, z[len(xs):], ways)

    def logits_z(self, zs, ys, zq, ways: int) -> torch.Tensor:
        """Score query embeddings against support embeddings (what test-time augmentation averages)."""
        raise NotImplementedError

    def forward(self, xs, ys, xq, yq, ways: int):
        z = self.embed(torch.cat([xs, xq]))
        return self.forward_z(z[: len(xs)], ys, z[len(xs):], yq, ways)

    def forward_z(self, zs, ys, zq, yq, ways: int):
        """(loss, acc) of an episode from embeddings (a frozen encoder's feature bank trains heads on this)."""
        logits = self.logits_z(zs, ys, zq, ways)
        return F.cross_entropy(logits, yq), accuracy(logits.detach(), yq)


class ProtoLearner(EpisodicLearner):
    """Prototypical networks (Snell et al. 2017): softmax over -squared Euclidean distance to class means."""

    method = "protonet"

    def logits_z(self, zs, ys, zq, ways):
        protos = class_means(zs, ys, ways)
        return -torch.cdist(zq, protos).pow(2)


class SiameseLearner(EpisodicLearner):
    """Siamese network (Koch et al. 2015): a weighted-L1 verification head trained on same/different pairs.

    The episode's (query, support) pairs are the training pairs: binary cross-entropy with the
    positives up-weighted by (ways - 1) so same and different pairs count equally.  Classification
    scores each class by its best-matching support example.  ``loss="ce"`` trains the same pair
    logits with cross-entropy over the episode's classes instead (a ranking objective: on a
    ProtoNet encoder the BCE pair loss lowered held-out one-shot accuracy, bench/results/meta_methods.md).
    """

    method = "siamese"

    def __init__(self, backbone: nn.Module, dim: int, loss: str = "bce"):
        super().__init__(backbone)
        self.head = SiameseHead(dim)
        self.loss = loss

    def pair_logits(self, xs, xq):
        z = self.embed(torch.cat([xs, xq]))
        return self.head.pairwise(z[len(xs):], z[: len(xs)])  # (Mq, Ns)

    @staticmethod
    def class_scores(pair: torch.Tensor, ys: torch.Tensor, ways: int) -> torch.Tensor:
        out = pair.new_full((pair.shape[0], ways), float("-inf"))
        return out.scatter_reduce(1, ys[None].expand_as(pair), pair, reduce="amax")

    def logits_z(self, zs, ys, zq, ways):
        return self.class_scores(self.head.pairwise(zq, zs), ys, ways)

    def forward_z(self, zs, ys, zq, yq, ways):
        pair = self.head.pairwise(zq, zs)
        if self.loss == "ce":
            scores = self.class_scores(pair, ys, ways)
            return F.cross_entropy(scores, yq), accuracy(scores.detach(), yq)
        same = (yq[:, None] == ys[None, :]).float()
        loss = F.binary_cross_entropy_with_logits(pair, same, pos_weight=pair.new_tensor(max(ways - 1, 1)))
        return loss, accuracy(self.class_scores(pair.detach(), ys, ways), yq)


class RelationLearner(EpisodicLearner):
    """Relation network (Sung et al. 2018): a learned module scores (query, class) pairs.

    The paper regresses the sigmoid score onto the one-hot target with MSE (``loss="mse"``);
    ``loss="ce"`` treats the relation logits as class logits instead.
    """

    method = "relation"

    def __init__(self, backbone: nn.Module, dim: int, hidden: int = 128, loss: str = "mse"):
        super().__init__(backbone)
        self.head = RelationHead(dim, hidden)
        self.loss = loss

    def logits_z(self, zs, ys, zq, ways):
        return self.head.pairwise(zq, class_means(zs, ys, ways))

    def forward_z(self, zs, ys, zq, yq, ways):
        logits = self.logits_z(zs, ys, zq, ways)
        if self.loss == "mse":
            loss = F.mse_loss(torch.sigmoid(logits), F.one_hot(yq, ways).float())
        else:
            loss = F.cross_entropy(logits, yq)
        return loss, accuracy(logits.detach(), yq)


class MAMLLearner(EpisodicLearner):
    """MAML (Finn et al. 2017), second or first order; ANIL (Raghu et al. 2020) adapts only the head.

    The head is a linear layer whose rows are the class slots of an episode (``ways`` of them).
    Full MAML adapts backbone + head in the inner loop; ``anil=True`` embeds once and adapts only
    the head, which is what makes it interactive on large frozen backbones.

    ``proto_init=True`` is Proto-MAML (Triantafillou et al. 2020), always ANIL-style here: the head
    has no stored weights, each episode starts it from the support prototypes (row c = 2 p_c,
    bias -||p_c||^2, i.e. exactly the Euclidean ProtoNet), the inner loop refines it on the support
    loss and the outer loop trains the encoder through the prototypes and the queries.  Any number
    of ways works, and the embedding-level scoring (``logits_z``) allows test-time augmentation.
    """

    method = "maml"

    def __init__(self, backbone: nn.Module, dim: int, ways: int, inner_lr: float = 0.4, inner_steps: int = 1,
                 first_order: bool = False, anil: bool = False, eval_steps: int | None = None,
                 proto_init: bool = False):
        super().__init__(backbone)
        self.proto_init = proto_init
        self.head = None if proto_init else nn.Linear(dim, ways)
        self.ways = ways
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.eval_steps = eval_steps or inner_steps * 2
        self.first_order = first_order
        self.anil = anil

    def _net(self):
        return nn.Sequential(self.backbone, self.head) if not self.anil else self.head

    def adapt(self, xs, ys, steps: int, create_graph: bool):
        net = self._net()
        learner = FunctionalLearner(net, self.inner_lr, first_order=self.first_order or not create_graph)
        fast = learner.clone()
        feats_s = self.backbone(xs) if self.anil else xs
        for _ in range(steps):
            fast.adapt(F.cross_entropy(fast(feats_s), ys))
        return fast

    def adapt_head(self, zs, ys, ways: int, steps: int, create_graph: bool = False):
        """Proto-MAML inner loop on support embeddings: (W, b) after ``steps`` SGD steps, and the
        support loss before each step and after the last (``steps + 1`` values)."""
        protos = class_means(zs, ys, ways)
        w, b = 2 * protos, -(protos ** 2).sum(1)
        second = create_graph and not self.first_order
        losses = []
        with torch.enable_grad():
            if not w.requires_grad:  # evaluation under no_grad: adapt a detached copy
                w, b = w.detach().requires_grad_(), b.detach().requires_grad_()
                zs = zs.detach()
            for _ in range(steps):
                loss = F.cross_entropy(zs @ w.t() + b, ys)
                losses.append(float(loss.detach()))
                gw, gb = torch.autograd.grad(loss, [w, b], create_graph=second)
                if not second:
                    gw, gb = gw.detach(), gb.detach()
                w, b = w - self.inner_lr * gw, b - self.inner_lr * gb
            losses.append(float(F.cross_entropy(zs @ w.t() + b, ys).detach()))
        return w, b, losses

    def logits_z(self, zs, ys, zq, ways, steps: int | None = None, create_graph: bool = False):
        if not self.proto_init:
            raise NotImplementedError("MAML without proto_init adapts on images; use logits()")
        w, b, _ = self.adapt_head(zs, ys, ways, self.eval_steps if steps is None else steps, create_graph)
        return zq @ w.t() + b

    def logits(self, xs, ys, xq, ways, steps: int | None = None, create_graph: bool = False):
        if self.proto_init:
            z = self.embed(torch.cat([xs, xq]))
            return self.logits_z(z[: len(xs)], ys, z[len(xs):], ways, steps, create_graph)
        if ways > self.ways:
            raise ValueError(f"this MAML model was meta-trained for {self.ways}-way episodes; {ways}-way needs more head rows")
        if ways < self.ways:
            # fewer classes: adapt a copy of the first `ways` class slots of the meta-learned head
            sub = MAMLLearner(self.backbone, self.head.in_features, ways, self.inner_lr, self.inner_steps,
                              self.first_order, self.anil, self.eval_steps)
            with torch.no_grad():
                sub.head.weight.copy_(self.head.weight[:ways])
                sub.head.bias.copy_(self.head.bias[:ways])
            sub.train(self.training)
            return sub.logits(xs, ys, xq, ways, steps, create_graph)
        with torch.enable_grad(), _batch_stat_norm(self, enabled=not self.training):
            fast = self.adapt(xs, ys, self.eval_steps if steps is None else steps, create_graph)
            return fast(self.backbone(xq) if self.anil else xq)

    def forward(self, xs, ys, xq, yq, ways):
        logits = self.logits(xs, ys, xq, ways, steps=self.inner_steps, create_graph=self.training)
        return F.cross_entropy(logits, yq), accuracy(logits.detach(), yq)


class _batch_stat_norm:
    """MAML normalises with the episode's batch statistics at test time too (as in Finn et al.);
    momentum 0 keeps the stored running statistics untouched while doing so."""

    def __init__(self, module: nn.Module, enabled: bool):
        self.bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if enabled else []

    def __enter__(self):
        self.saved = [(m.training, m.momentum) for m in self.bns]
        for m in self.bns:
            m.train()
            m.momentum = 0.0

    def __exit__(self, *exc):
        for m, (tr, mom) in zip(self.bns, self.saved):
            m.train(tr)
            m.momentum = mom


def build_learner(cfg: dict) -> EpisodicLearner:
    """cfg keys: method, backbone ("conv4"), in_channels, input_size, hidden, ways, and method options."""
    if cfg.get("backbone", "conv4") != "conv4":
        raise ValueError(f"meta-training supports the conv4 backbone, not {cfg.get('backbone')!r}")
    bb = Conv4(cfg.get("in_channels", 1), cfg.get("hidden", 64), cfg.get("input_size", 28))
    dim = bb.embed_dim
    m = cfg["method"]
    if m == "protonet":
        return ProtoLearner(bb)
    if m == "siamese":
        return SiameseLearner(bb, dim, cfg.get("siamese_loss", "bce"))
    if m == "relation":
        return RelationLearner(bb, dim, cfg.get("relation_hidden", 128), cfg.get("relation_loss", "mse"))
    if m == "maml":
        return MAMLLearner(bb, dim, cfg["ways"], cfg.get("inner_lr", 0.4), cfg.get("inner_steps", 1),
                           cfg.get("first_order", False), cfg.get("anil", False), cfg.get("eval_steps"),
                           cfg.get("proto_init", False))
    raise ValueError(f"unknown meta-learning method {m!r}; choose from: {', '.join(LEARNERS)}")
