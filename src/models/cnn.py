"""The paper's standard CNN: three conv blocks (conv k x k, stride 1, ReLU, 2x2 max-pool), FC 500 + ReLU, FC out.

The channel counts of the paper's appendix (Tables 1-4) are data in `PAPER_CHANNELS`, keyed by
(architecture family, padding) and then kernel size. The two measuring points of the paper are attributes with
fixed names so that forward hooks can find them in `named_modules()`:

- `conv`: the last conv block; its output (after the pool) is the "final convolutional layer output".
- `fc`: the final fully connected layer; its output (the logits) is the "final fully connected layer output".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from src.checks import is_integer
from src.errors import ConfigError
from src.models.points import CONV, LOGITS, Point, measured_at, present_points

PADDINGS = ("same", "none")

# Even kernels with padding="same" make PyTorch pad one side more, through a padded copy; that is intended here.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel lengths")

# (family, padding) -> kernel -> channels of the three conv layers. "Experiment 1" keeps channels fixed and pads to
# keep feature maps the same size; "Experiment 2" drops padding and scales channels so kernel x channels is
# comparable.
PAPER_CHANNELS: dict[tuple[str, str], dict[int, tuple[int, int, int]]] = {
    ("mnist", "same"): {3: (10, 20, 30), 4: (10, 20, 30), 5: (10, 20, 30)},  # Table 1
    ("cifar10", "same"): {3: (50, 100, 150), 4: (50, 100, 150), 5: (50, 100, 150)},  # Table 2
    ("mnist", "none"): {3: (28, 56, 83), 4: (16, 31, 47), 5: (10, 20, 30)},  # Table 3
    ("cifar10", "none"): {3: (139, 278, 416), 4: (78, 156, 234), 5: (50, 100, 150)},  # Table 4
}
PAPER_TABLE = {key: n for n, key in enumerate(PAPER_CHANNELS, start=1)}  # (family, padding) -> its Table number


def paper_channels(family: str, padding: str, kernel: int) -> tuple[int, int, int]:
    """Channels of the paper's network for a dataset family ('mnist' or 'cifar10'), padding and kernel size."""
    table = PAPER_CHANNELS.get((family, padding))
    if table is None:
        families = sorted({f for f, _ in PAPER_CHANNELS})
        raise ConfigError(f"architecture={family!r} has no paper table: allowed {families}")
    if kernel not in table:
        raise ConfigError(
            f"kernel={kernel} is not in the paper's tables (allowed {sorted(table)}); "
            "set model.channels=[c1,c2,c3] to build other kernel sizes"
        )
    return table[kernel]


class BlurPool(nn.Module):
    """Anti-aliased downsampling (Zhang 2019, "Making convolutional networks shift-invariant again"): max-pool
    2x2 with stride 1, then a per-channel 3x3 binomial blur ([1, 2, 1] x [1, 2, 1] / 16) applied with stride 2 on
    the reflect-padded map. Same output size as MaxPool2d(2, 2) (floor(H / 2)); no parameters.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (taps[:, None] * taps[None, :] / 16).expand(channels, 1, 3, 3).clone())
        self.max = nn.MaxPool2d(2, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(self.max(x), (1, 1, 1, 1), mode="reflect")
        return nn.functional.conv2d(x, self.filt, stride=2, groups=x.shape[1])


@dataclass(frozen=True)
class Pool:
    """A 2x2 downsampling layer of the conv blocks: make(channels) -> module halving H and W (rounding down), and
    whether it commutes with the ReLU (max does: ReLU(max(x)) = max(ReLU(x)), bitwise, gradients too)."""

    make: Callable[[int], nn.Module]
    commutes_with_relu: bool


# The pool table (model.pool=<name>). A new pool is one entry and its test.
POOLS: dict[str, Pool] = {
    "max": Pool(lambda channels: nn.MaxPool2d(2, 2), commutes_with_relu=True),  # the paper's
    "blur": Pool(BlurPool, commutes_with_relu=False),  # Zhang's anti-aliasing: the blur is linear
}


@dataclass(frozen=True)
class Head:
    """What follows the last conv block: make(channels, side, hidden, num_classes) -> (flatten, hidden, fc), the
    three modules StandardCNN names (an nn.Identity where a head has no such stage; `fc` gives the logits)."""

    make: Callable[[int, int, int, int], tuple[nn.Module, nn.Module, nn.Module]]


HEADS: dict[str, Head] = {
    # the paper's: flatten, FC `hidden` + ReLU, FC out
    "fc": Head(lambda c, side, hidden, k: (nn.Flatten(), nn.Sequential(nn.Linear(c * side * side, hidden),
                                                                       nn.ReLU(inplace=True)), nn.Linear(hidden, k))),
    # global average pooling of the last conv block, then FC out (Lin et al. 2014); `hidden` unused
    "gap": Head(lambda c, side, hidden, k: (nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Identity(),
                                            nn.Linear(c, k))),
}  # fmt: skip


def conv_block(in_ch: int, out_ch: int, kernel: int, padding: str, pool: str = "max") -> nn.Sequential:
    """conv k x k (stride 1) -> ReLU -> pool, with the ReLU after the pool where they commute: it then runs on a
    quarter of the values (`python -m src.bench --profile` measured training 2.6-3.4 % faster), same function."""
    # padding="same" keeps H x W for every kernel; for even kernels PyTorch pads one pixel more on the
    # right/bottom than on the left/top (as TensorFlow does), which is what the tables' output sizes require.
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=1, padding="same" if padding == "same" else 0)
    down = POOLS[pool]
    if down.commutes_with_relu:
        return nn.Sequential(conv, down.make(out_ch), nn.ReLU(inplace=True))
    return nn.Sequential(conv, nn.ReLU(inplace=True), down.make(out_ch))


@measured_at(  # the engine hooks these names, the callback and src.evaluate measure them, figures title them
    Point("block1", "first conv block output"),
    Point("block2", "second conv block output"),
    Point(CONV, "final convolutional layer output"),
    Point("flatten", "flattened final conv output"),  # a stage with the GAP head only (pool + flatten)
    Point("hidden", "FC 500 hidden layer output"),  # a stage with the FC head only
    Point(LOGITS, "final FC layer, logits (before softmax)"),
)
class StandardCNN(nn.Module):
    """conv-ReLU-pool x3 -> FC(hidden) -> ReLU -> FC(num_classes) (ReLU and pool in the order `conv_block` says).

    Args:
        in_channels: image channels (1 for MNIST, 3 for CIFAR-10).
        image_size: side of the (already zero-padded) square input, pixels (40 for MNIST, 44 for CIFAR-10).
        kernel: conv kernel size k (all three layers), pixels.
        padding: "same" (conv output size = input size) or "none" (no padding).
        channels: output channels of the three conv layers.
        hidden: width of the hidden FC layer.
        num_classes: number of outputs.
        pool: "max" (the paper's 2x2 max-pool) or "blur" (anti-aliased: BlurPool).
        head: a key of HEADS: "fc" (the paper's FC hidden + FC out) or "gap" (global average pool of the last conv
            block, then FC out; `hidden` unused).

    Input (N, in_channels, image_size, image_size); output logits (N, num_classes).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        kernel: int,
        padding: str,
        channels: tuple[int, int, int] | list[int],
        hidden: int = 500,
        num_classes: int = 10,
        pool: str = "max",
        head: str = "fc",
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ConfigError(f"model.pool={pool!r} is not allowed: use one of {list(POOLS)}")
        if head not in HEADS:
            raise ConfigError(f"model.head={head!r} is not allowed: use one of {list(HEADS)}")
        self._check(kernel, padding)
        if len(channels) != 3:
            raise ConfigError(f"model.channels={list(channels)} must list 3 conv layers' channels")
        c1, c2, c3 = (int(c) for c in channels)
        self.block1 = conv_block(in_channels, c1, kernel, padding, pool)
        self.block2 = conv_block(c1, c2, kernel, padding, pool)
        self.conv = conv_block(c2, c3, kernel, padding, pool)  # measuring point "conv" (after its pool)
        side = feature_map_sizes(image_size, kernel, padding)[-1]
        if side < 1:
            raise ConfigError(
                f"kernel={kernel} with padding={padding} shrinks a {image_size}px image to nothing; "
                "use a smaller kernel or padding=same"
            )
        # measuring point "fc": the logits
        self.flatten, self.hidden, self.fc = HEADS[head].make(c3, side, hidden, num_classes)
        self.depth_points = present_points(self)  # layers=all: input, these, softmax
        self.reset_parameters()

    @staticmethod
    def _check(kernel, padding) -> None:
        """The one check of kernel and padding (src.train's check_config repeats it only to fail before any work)."""
        if not is_integer(kernel) or kernel < 1:
            raise ConfigError(f"kernel={kernel!r} is not allowed: must be an integer >= 1 (the paper uses 3, 4, 5)")
        if padding not in PADDINGS:
            raise ConfigError(f"padding={padding!r} is not allowed: use one of {list(PADDINGS)}")

    def reset_parameters(self) -> None:
        """He (Kaiming) normal initialisation for every conv and linear weight, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.block2(self.block1(x)))
        return self.fc(self.hidden(self.flatten(x)))


def feature_map_sizes(image_size: int, kernel: int, padding: str) -> list[int]:
    """Side lengths after conv1, pool1, conv2, pool2, conv3, pool3 (the 'Output Size' column of Tables 1-4)."""
    sizes, side = [], image_size
    for _ in range(3):
        side = side if padding == "same" else side - kernel + 1
        sizes.append(side)
        side //= 2
        sizes.append(side)
    return sizes


def build_network(
    family: str,
    in_channels: int,
    image_size: int,
    kernel: int,
    padding: str,
    channels: list[int] | None = None,
    hidden: int = 500,
    num_classes: int = 10,
    pool: str = "max",
    head: str = "fc",
) -> StandardCNN:
    """The paper's network for `family` ('mnist' or 'cifar10'), or any channels given explicitly; pool and head
    as in StandardCNN (the paper's: max, fc)."""
    if channels is None:  # the table lookup needs a valid kernel and padding; StandardCNN checks both again
        StandardCNN._check(kernel, padding)
    chans = tuple(channels) if channels is not None else paper_channels(family, padding, kernel)
    return StandardCNN(in_channels, image_size, kernel, padding, chans, hidden, num_classes, pool, head)
