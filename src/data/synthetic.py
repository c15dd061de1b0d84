"""A small synthetic dataset of digit-like shapes: seven-segment digits 0-9 drawn at random positions and sizes.

It has MNIST's format (uint8, 1 x 28 x 28, 10 classes), needs no files, and trains to >95% accuracy in seconds,
so tests and demos can run the whole pipeline anywhere.
"""

from __future__ import annotations

import numpy as np
import torch

#            a  b  c  d  e  f  g     (a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g middle)
SEGMENTS = {
    0: "abcdef",
    1: "bc",
    2: "abged",
    3: "abgcd",
    4: "fgbc",
    5: "afgcd",
    6: "afgedc",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}


def draw_digit(digit: int, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """One seven-segment `digit` as a uint8 (size, size) image with random box, stroke width and position."""
    img = np.zeros((size, size), dtype=np.float32)
    w, h, t = int(rng.integers(8, 13)), int(rng.integers(14, 19)), int(rng.integers(2, 4))
    x0 = (size - w) // 2 + int(rng.integers(-3, 4))
    y0 = (size - h) // 2 + int(rng.integers(-3, 4))
    mid = y0 + h // 2
    boxes = {  # (y_start, y_end, x_start, x_end) of each segment
        "a": (y0, y0 + t, x0, x0 + w),
        "d": (y0 + h - t, y0 + h, x0, x0 + w),
        "g": (mid - t // 2, mid - t // 2 + t, x0, x0 + w),
        "f": (y0, mid + 1, x0, x0 + t),
        "b": (y0, mid + 1, x0 + w - t, x0 + w),
        "e": (mid, y0 + h, x0, x0 + t),
        "c": (mid, y0 + h, x0 + w - t, x0 + w),
    }
    for s in SEGMENTS[digit]:
        ys, ye, xs, xe = boxes[s]
        img[max(ys, 0) : max(ye, 0), max(xs, 0) : max(xe, 0)] = rng.uniform(0.7, 1.0)
    img += rng.normal(0.0, 0.03, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def make_synthetic_digits(n: int, seed: int, size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` images uint8 (n, 1, size, size) with balanced labels int64 (n,), deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.stack([draw_digit(int(c), rng, size) for c in labels])[:, None]
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def load_synthetic_digits(data_dir=None, download=False, sizes: tuple[int, int] = (3000, 1000)):
    """The dataset loader interface ((train_x, train_y), (test_x, test_y)); data_dir and download are unused."""
    n_train, n_test = sizes
    return make_synthetic_digits(n_train, seed=0), make_synthetic_digits(n_test, seed=1)
