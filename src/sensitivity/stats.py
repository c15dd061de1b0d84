"""Statistics over seeds (scipy.stats): t intervals, paired differences, equivalence tests, Holm, power.

A claim of the paper (e.g. "k=5 is more invariant than k=3 after the FC layer") is tested as a paired difference
over seeds: seed i of one network minus seed i of the other, both measured on the same test images.
- Directional claims: "holds" when the 95 % t interval of the mean difference lies on the claimed side of 0, "does
  not hold" when it lies on the other side, else "unresolved at n=N"; the two-sided p-value (the test behind the
  95 % interval) is what Holm's correction adjusts across the claims of one figure.
- "No effect" claims are equivalence tests (two one-sided t tests, TOST) against a margin written in the claim:
  "equivalent" when both one-sided tests reject at alpha (the 90 % interval lies inside (-margin, +margin)),
  "different" when the two-sided test rejects 0, else "unresolved at n=N". Absence of evidence is not equivalence.
- For a claim still unresolved, `seeds_needed` is the n at which a claim with the observed mean and spread reaches
  80 % power (noncentral t), so a reader knows what more runs would buy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats

from src.sensitivity.radial import radius_grid

ALPHA = 0.05  # every test here: 95 % two-sided intervals, one-sided tests at 5 %
POWER = 0.8  # the power at which `seeds_needed` counts seeds


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p in [0.5, 1)) of Student's t with df >= 1 degrees of freedom, e.g. 4.303 for (0.975, 2)."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    return float(stats.t.ppf(p, df))


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """{"mean", "std" (sample, n-1), "low", "high" (two-sided t interval), "n", "values"}; one value: std, low and
    high are None (JSON null)."""
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = math.fsum(v) / n
    if n == 1:
        return {"mean": mean, "std": None, "low": None, "high": None, "n": 1, "values": v}
    std = float(np.std(v, ddof=1))
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "n": n, "values": v}


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """mean_ci of a_i - b_i (the same seed index, or any pairing the caller chose)."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference needs equal lengths, got {len(a)} and {len(b)}")
    return mean_ci([x - y for x, y in zip(a, b, strict=True)], level)


def two_sided_p(diffs: Sequence[float]) -> float | None:
    """p-value of the two-sided one-sample t test of mean(diffs) = 0; None below 2 values (0 or 1 without spread)."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        return None
    if np.ptp(d) == 0:
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def tost(diffs: Sequence[float], margin: float) -> dict:
    """Two one-sided t tests of |mean(diffs)| < margin: {"margin", "p_lower", "p_upper", "p" (the larger),
    "ci90" ([low, high], the interval that lies inside the margins exactly when p < ALPHA)}."""
    if margin <= 0:
        raise ValueError(f"tost needs a positive margin, got {margin}")
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        return {"margin": margin, "p_lower": None, "p_upper": None, "p": None, "ci90": [None, None]}
    if np.ptp(d) == 0:  # no spread: the mean is exact
        inside = -margin < d[0] < margin
        p_lower = p_upper = 0.0 if inside else 1.0
    else:
        p_lower = float(stats.ttest_1samp(d, -margin, alternative="greater").pvalue)
        p_upper = float(stats.ttest_1samp(d, margin, alternative="less").pvalue)
    ci = mean_ci(d.tolist(), level=1 - 2 * ALPHA)
    p = max(p_lower, p_upper)
    return {"margin": margin, "p_lower": p_lower, "p_upper": p_upper, "p": p, "ci90": [ci["low"], ci["high"]]}


def equivalence_verdict(diffs: Sequence[float], margin: float) -> tuple[str, dict]:
    """("equivalent" | "different" | "unresolved at n=N", the TOST record). Equivalent wins when the 90 % interval
    lies inside the margins, even if a tiny difference is also significant: it is then smaller than the margin."""
    test = tost(diffs, margin)
    n = len(diffs)
    if test["p"] is not None and test["p"] < ALPHA:
        return "equivalent", test
    ci = mean_ci(diffs)
    if ci["low"] is not None and (ci["low"] > 0 or ci["high"] < 0):
        return "different", test
    return f"unresolved at n={n}", test


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """mean(a) - mean(b) of two independent samples (other networks, other seeds) with Welch's t interval (no equal
    variances assumed): {"mean", "low", "high", "p" (two-sided), "df", "n_a", "n_b"}; None fields below 2 each."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    undefined = dict.fromkeys(("low", "high", "p", "df"))  # below 2 values each
    out = {"mean": float(a.mean() - b.mean()), **undefined, "n_a": int(a.size), "n_b": int(b.size)}
    if a.size < 2 or b.size < 2:
        return out
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(level)
    return out | {"low": float(ci.low), "high": float(ci.high), "p": float(test.pvalue), "df": float(test.df)}


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (same order; None stays None and is not counted): the i-th smallest of m
    is multiplied by (m - i), made monotone, capped at 1. Controls the family-wise error rate across the family."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def seeds_needed(mean: float, std: float, margin: float | None = None, max_n: int = 1000) -> int | None:
    """Smallest number of seeds at which a paired t test reaches POWER at alpha = ALPHA if the true mean difference
    and spread are the observed `mean` and `std`: one-sided test of the sign of `mean` (margin None), or TOST
    against +-margin. None when no n up to max_n does (e.g. |mean| >= margin, or mean 0 for a directional test)."""
    if std is None or std < 0 or not math.isfinite(std):
        return None
    if margin is None and mean == 0 or margin is not None and abs(mean) >= margin:
        return None
    if std == 0:  # no spread: any two seeds decide
        return 2
    for n in range(2, max_n + 1):
        df, se = n - 1, std / math.sqrt(n)
        crit = stats.t.ppf(1 - ALPHA, df)
        if margin is None:
            power = stats.nct.sf(crit, df, abs(mean) / se)
        else:  # both one-sided tests must reject: P(T_low > crit) - P(T_up > -crit), the usual approximation
            power = stats.nct.sf(crit, df, (mean + margin) / se) - stats.nct.sf(-crit, df, (mean - margin) / se)
        if power >= POWER:
            return n
    return None


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


def full_ring_mean(profile: torch.Tensor | Sequence[float], max_shift: int, start: int = 1) -> float:
    """Mean of a radial profile (R+1,) over radii start..S, whose rings lie wholly inside the map."""
    return float(torch.as_tensor(profile, dtype=torch.float64)[start : max_shift + 1].mean())
