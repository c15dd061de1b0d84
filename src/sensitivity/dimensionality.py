"""§4.3.1 of the paper: the dimension of the compared vectors changes both metrics, whatever the network does.

`PooledViews` shows one representation at several dimensions: a feature map (C, H, W) average-pooled to (C, s, s)
for several sizes s, each exposed as a submodule named `d<C*s*s>` so that `translation_sensitivity` measures the
same shifts at every dimension in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class PooledViews(nn.Module):
    """features (any module, e.g. nn.Identity() or a trained conv trunk) followed by adaptive average pools.

    forward(x (N, C_in, H, W)) returns zeros (N, num_classes): there is no classifier, only the measured views.
    Submodule `d<D>` outputs (N, C, s, s) with D = C * s * s, for each s in `sizes`.
    """

    def __init__(self, features: nn.Module, channels: int, sizes: Sequence[int], num_classes: int = 10) -> None:
        super().__init__()
        self.features, self.num_classes = features, num_classes
        self.views = nn.ModuleDict({f"d{channels * s * s}": nn.AdaptiveAvgPool2d(s) for s in sizes})

    @property
    def layer_names(self) -> list[str]:
        """Names to pass as `layers`, highest dimension first."""
        return [f"views.{name}" for name in self.views]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        for pool in self.views.values():
            pool(f)
        return x.new_zeros(len(x), self.num_classes)
