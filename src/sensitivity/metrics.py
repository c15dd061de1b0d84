"""Similarity of a layer's response to an image (a) and to its shifted copy (b), one value per sample.

a, b: (n, D) flattened activations. All functions return (n,) float tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from src.errors import ConfigError

EPS = 1e-12
DECISIONS = ("accuracy", "consistency")  # from the model's prediction, independent of the layer


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a.b / (|a| |b|), in [-1, 1]; two zero vectors count as identical (1), one zero vector as orthogonal (0)."""
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = (a * b).sum(dim=1) / (na * nb).clamp_min(EPS)
    return torch.where((na <= EPS) & (nb <= EPS), torch.ones_like(cos), cos)


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - |a - b| / (|a| + |b|), a similarity in [0, 1] (1: identical); two zero vectors give 1."""
    denom = a.norm(dim=1) + b.norm(dim=1)
    sim = 1.0 - (a - b).norm(dim=1) / denom.clamp_min(EPS)
    return torch.where(denom <= EPS, torch.ones_like(sim), sim)


def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b|, the raw Euclidean distance of Kauderer-Abrams' maps (not normalised)."""
    return (a - b).norm(dim=1)


@dataclass(frozen=True)
class Metric:
    """A comparison of a response with its shifted copy: the function of two (n, D) batches giving (n,) values, the
    label figures print, its direction (True: larger = more similar, i.e. more invariant) and its value range
    (None: unbounded). Figures and W&B show the bounded similarities; claims need the direction."""

    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    label: str
    larger_is_similar: bool
    value_range: tuple[float, float] | None
    # Claims: whether two layers of different size compare on this metric (a normalised value does; a raw distance
    # grows with the layer's size and scale), and the margin of "no effect" claims in its units (None: none
    # calibrated, so such claims are not tested on it).
    scale_free: bool = True
    equivalence_margin: float | None = None


# The metric table. A new metric is one function and one entry here: the engine, the saved results, the reference
# loop, the figures' labels, the claims and the W&B payload pick it up by name.
# Cosine's margin 0.02: the seed spread (std over seeds) of one network's r = 1-10 mean cosine is 0.004-0.016 on
# MNIST (seeds3 Figs. 2 and 5), and the smallest difference the paper calls an effect that we resolve (conv, k=3 vs 4)
# is 0.028: a difference under 0.02 is inside one network's seed-to-seed variation, 4 % of the mean cosine (~0.55).
METRICS: dict[str, Metric] = {
    "cosine": Metric(cosine, "cosine similarity", True, (-1.0, 1.0), True, 0.02),
    "euclidean": Metric(euclidean, "Euclidean similarity", True, (0.0, 1.0), True),
    "distance": Metric(distance, "Euclidean distance", False, None, scale_free=False),
}
PAPER_METRIC = "cosine"  # the paper's measure: what its figures draw, its claims test and the report tabulates


def shown_metrics() -> tuple[str, ...]:
    """The bounded similarities, in table order: what the epoch-end callback and src.evaluate log to W&B and the
    comparison view summarises (a raw distance has no common scale). Read from the table on every call, so an entry
    added to METRICS is picked up."""
    return tuple(name for name, m in METRICS.items() if m.larger_is_similar and m.value_range is not None)


def check_metrics(metrics: Sequence[str] | None, key: str = "metrics") -> tuple[str, ...]:
    """`metrics` as a tuple in METRICS order (None: all of them), or a one-line ConfigError naming `key`."""
    if metrics is None:
        return tuple(METRICS)  # all, in table order: the engine's accumulator order
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"{key}={list(metrics)} is not allowed: name one or more of {list(METRICS)}")
    return tuple(m for m in METRICS if m in metrics)


def similarities(a: torch.Tensor, b: torch.Tensor, metrics: Sequence[str] | None = None) -> torch.Tensor:
    """(len(metrics), n): each metric of each row pair (None: every metric of the table), in the order given, in
    float32 or wider."""
    metrics = tuple(METRICS) if metrics is None else metrics
    a, b = a.flatten(1), b.flatten(1)
    if a.dtype not in (torch.float32, torch.float64):
        a, b = a.float(), b.float()
    return torch.stack([METRICS[m].function(a, b) for m in metrics])
