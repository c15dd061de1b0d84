"""Translations of images, in the convention of the whole project.

A shift (dx, dy) moves image content right by dx pixels and down by dy pixels; pixels it vacates take the fill
value (the padding value of the dataset); nothing wraps around. Maps are indexed [dy + S, dx + S] for shifts in
[-S, S] x [-S, S], S = max_shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from src.checks import is_integer
from src.errors import ConfigError

Fill = float | Sequence[float]


def _fill_tensor(fill: Fill, images: torch.Tensor) -> torch.Tensor:
    """fill as (1, C, 1, 1) on the images' device and dtype."""
    f = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    if f.shape[1] not in (1, images.shape[1]):
        raise ConfigError(f"fill_value has {f.shape[1]} values for images with {images.shape[1]} channels")
    return f


def check_max_shift(max_shift: int, height: int, width: int) -> None:
    """A map of side 2S+1 must fit in the image: 0 <= S <= (min(H, W) - 1) // 2."""
    limit = (min(height, width) - 1) // 2
    if not is_integer(max_shift) or not 0 <= max_shift <= limit:
        raise ConfigError(
            f"max_shift={max_shift!r} is not allowed for {height}x{width} images: use an integer in 0..{limit}"
        )


def shift_images(images: torch.Tensor, dx: int, dy: int, fill: Fill = 0.0) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W): content moved right by dx and down by dy, vacated pixels = fill."""
    _, _, h, w = images.shape
    f = _fill_tensor(fill, images)
    out = f.expand_as(images).clone()
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dx) < w and abs(dy) < h:
        out[:, :, yd, xd] = images[:, :, ys, xs]
    return out


def shifted_windows(images: torch.Tensor, max_shift: int, fill: Fill = 0.0) -> torch.Tensor:
    """A view (N, C, 2S+1, 2S+1, H, W) of one padded copy of `images`: every shift, no copy per shift.

    Window [n, :, i, j] equals shift_images(images[n], dx=S - j, dy=S - i): index with (S - dy, S - dx).
    """
    s = max_shift
    n, c, h, w = images.shape
    padded = _fill_tensor(fill, images).expand(n, c, h + 2 * s, w + 2 * s).clone()
    padded[:, :, s : s + h, s : s + w] = images
    return padded.unfold(2, h, 1).unfold(3, w, 1)
