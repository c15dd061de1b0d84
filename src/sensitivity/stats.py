"""Statistics over seeds: means with Student-t confidence intervals, paired differences, and claim verdicts.

A claim of the paper (e.g. "k=5 is more invariant than k=3 after the FC layer") is tested as a paired difference
over seeds: seed i of one network minus seed i of the other, both measured on the same test images. The verdict
is "holds" when the 95 % confidence interval of the mean difference lies on the claimed side of 0, "does not hold"
when it lies on the other side, and "unresolved at n=N" when it contains 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from src.sensitivity.radial import radius_grid


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with df degrees of freedom, t >= 0 (Simpson's rule on the density)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    steps = 2000  # even; the density is smooth, so the error is far below the 3 decimals reported

    def pdf(x: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))

    h = t / steps
    inner = sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return 0.5 + h / 3 * (pdf(0.0) + inner + pdf(t))


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p in [0.5, 1)) of Student's t with df >= 1 degrees of freedom, e.g. 4.303 for (0.975, 2)."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(50):  # bisection to ~1e-12 relative
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """{"mean", "std" (sample, n-1), "low", "high" (two-sided t interval), "n", "values"}; one value: std, low and
    high are None (JSON null)."""
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = sum(v) / n
    if n == 1:
        return {"mean": mean, "std": None, "low": None, "high": None, "n": 1, "values": v}
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "n": n, "values": v}


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """mean_ci of a_i - b_i (the same seed index, or any pairing the caller chose)."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference needs equal lengths, got {len(a)} and {len(b)}")
    return mean_ci([x - y for x, y in zip(a, b, strict=True)], level)


def verdict(ci: dict, direction: int = 1) -> str:
    """'holds' if the interval lies on the claimed side of 0 (direction +1: a > b), 'does not hold' if on the other
    side, else 'unresolved at n=N'."""
    if ci["low"] is None:
        return f"unresolved at n={ci['n']}"
    low, high = (ci["low"], ci["high"]) if direction > 0 else (-ci["high"], -ci["low"])
    if low > 0:
        return "holds"
    if high < 0:
        return "does not hold"
    return f"unresolved at n={ci['n']}"


def shifts_per_radius(max_shift: int) -> list[int]:
    """Number of shifts in [-S, S]^2 at each radius 0..R; radii above S are corner-only (incomplete rings)."""
    return torch.bincount(radius_grid(max_shift).flatten()).tolist()


def full_ring_mean(profile: torch.Tensor, max_shift: int, start: int = 1) -> float:
    """Mean of a radial profile (R+1,) over radii start..S, whose rings lie wholly inside the map."""
    return float(profile[start : max_shift + 1].double().mean())
