"""MAML's functional machinery: ``clone()`` a learner, ``adapt(loss)`` it with a gradient step.

Written on ``torch.func.functional_call``: a :class:`FunctionalLearner` holds its *own* dict of
parameter tensors, derived (differentiably) from the wrapped module's parameters.  ``adapt``
replaces them by ``p - lr * grad``; with ``first_order=False`` the gradient graph is kept
(``create_graph=True``) so the outer loss back-propagates through the inner loop (second-order
MAML); with ``first_order=True`` the inner gradients are detached (FOMAML), so the outer gradient
reaches the initial parameters through the identity path only.  ``adapt_names`` restricts the
inner loop to some parameters (ANIL: only the head), the rest stay shared and are still trained
by the outer loop.

    learner = FunctionalLearner(model, lr=0.4)
    for task in tasks:
        fast = learner.clone()
        for _ in range(steps):
            fast.adapt(loss_fn(fast(xs), ys))
        loss_fn(fast(xq), yq).backward()     # gradients land on model.parameters()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call


class FunctionalLearner:
    def __init__(self, module: nn.Module, lr: float, first_order: bool = False,
                 adapt_names: Iterable[str] | None = None,
                 params: dict[str, torch.Tensor] | None = None):
        self.module = module
        self.lr = lr
        self.first_order = first_order
        all_names = [n for n, _ in module.named_parameters()]
        self.adapt_names = list(all_names if adapt_names is None else adapt_names)
        unknown = set(self.adapt_names) - set(all_names)
        if unknown:
            raise ValueError(f"no such parameters to adapt: {sorted(unknown)}")
        self.params = dict(module.named_parameters()) if params is None else params

    def clone(self) -> "FunctionalLearner":
        """A copy whose parameters are graph-connected to this learner's (gradients flow back)."""
        return FunctionalLearner(self.module, self.lr, self.first_order, self.adapt_names,
                                 {n: p.clone() for n, p in self.params.items()})

    def __call__(self, *args, **kwargs):
        return functional_call(self.module, self.params, args, kwargs, strict=False)

    def adapt(self, loss: torch.Tensor, lr: float | None = None) -> "FunctionalLearner":
        """One SGD step on ``loss`` for the adapted parameters, in place (on this clone)."""
        lr = self.lr if lr is None else lr
        names = [n for n in self.adapt_names if self.params[n].requires_grad]
        grads = torch.autograd.grad(loss, [self.params[n] for n in names],
                                    create_graph=not self.first_order, allow_unused=True)
        for n, g in zip(names, grads):
            if g is None:
                continue
            if self.first_order:
                g = g.detach()
            self.params[n] = self.params[n] - lr * g
        return self

