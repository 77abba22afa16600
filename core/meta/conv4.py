"""The standard Conv-4 backbone of the few-shot literature (Vinyals et al. 2016, Snell et al. 2017).

Four blocks of [3x3 conv 64, BatchNorm, ReLU, 2x2 max-pool].  At 28 px the output is 64 x 1 x 1,
so the embedding is 64-d; larger inputs give a 64 x h x w map that is flattened (``embed_dim``
reports the size for a given input).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=False),  # not in-place: MAML differentiates through the graph twice
        nn.MaxPool2d(2),
    )


class Conv4(nn.Module):
    """x (N, C, H, W) -> (N, D) embedding."""

    def __init__(self, in_channels: int = 1, hidden: int = 64, input_size: int = 28):
        super().__init__()
        self.in_channels = in_channels
        self.hidden = hidden
        self.input_size = input_size
        self.encoder = nn.Sequential(
            conv_block(in_channels, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
        )

    @property
    def embed_dim(self) -> int:
        s = self.input_size
        for _ in range(4):
            s //= 2
        return self.hidden * max(s, 1) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)


class InkConv4(nn.Module):
    """Conv-4 trained on Omniglot, wrapped to take RGB photos-style input.

    The app's preprocessing hands every backbone (N, 3, H, W) RGB in [0, 1] (mean 0, std 1 in the
    spec); Omniglot nets were trained on ink maps (stroke = 1, paper = 0), so this wrapper converts.
    """

    def __init__(self, net: Conv4):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 3 and self.net.in_channels == 1:
            x = 1.0 - x.mean(1, keepdim=True)
        return self.net(x)
