"""The paper's claims as tests: a `Claim` compares two (measuring point, network) curves of a figure over seeds.

Directional claims are paired t intervals; "no effect" claims are equivalence tests (TOST) against a margin written
in the claim; a figure's claims at one measuring point are Holm-adjusted as one family; per-radius results are
exploratory. Pure functions of a figure's radial numbers, so a committed JSON can be re-scored without its runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from src.errors import DataError
from src.sensitivity.maps import LOGITS, SOFTMAX
from src.sensitivity.metrics import METRICS, PAPER_METRIC
from src.sensitivity.stats import (
    ALPHA,
    equivalence_verdict,
    full_ring_mean,
    holm,
    mean_ci,
    paired_difference,
    seeds_needed,
    two_sided_p,
    verdict,
)

# "No effect" claims are equivalence tests: |mean cosine difference over r = 1..S| < this margin (the metric table
# says why 0.02; another metric uses its own margin there, or is not tested for "no effect").
EQUIVALENCE_MARGIN = METRICS[PAPER_METRIC].equivalence_margin
OUTPUT = "output"  # in a Claim: the figure's output point (softmax, the paper's; or the logits)


def point_of(layer: str, output_layer: str) -> str:
    """The measuring point a claim's side is read at: `output_layer` for OUTPUT, else the point itself."""
    return output_layer if layer == OUTPUT else layer


@dataclass(frozen=True)
class Claim:
    """A statement of the paper tested as a paired difference over seeds of full-ring radial means (r = 1..S).

    a and b are (layer, label) pairs, where layer OUTPUT is the figure's output point; direction +1 claims
    a > b (more similar, i.e. more invariant), -1 claims a < b, 0 claims no difference: an equivalence test with
    |difference| < margin (cosine units, mean over r = 1..S).
    """

    text: str
    a: tuple[str, str]
    b: tuple[str, str]
    direction: int = 1
    margin: float = EQUIVALENCE_MARGIN


def kernel_pairs(layer: str, text: str, direction: int, pairs: Sequence[tuple[int, int]]) -> list[Claim]:
    """One claim per (a, b) kernel pair at `layer`; `text` formats {a} and {b}."""
    return [Claim(text.format(a=a, b=b), (layer, f"k={a}"), (layer, f"k={b}"), direction) for a, b in pairs]


def evaluate_claim(claim: Claim, radial: dict, output_layer: str, max_shift: int, metric: str = PAPER_METRIC) -> dict:
    """The claim's paired difference (summary over r = 1..S and per radius, exploratory: no correction), its test
    (t interval, or TOST for "no difference" claims), its p-value for Holm (`holm_adjust`), and the seeds at which
    a claim with the observed mean and spread reaches 80 % power (alpha 0.05, unadjusted)."""

    # a claim says "more invariant"; for a metric where larger means less similar (a distance) that is "smaller"
    direction = claim.direction if METRICS[metric].larger_is_similar else -claim.direction

    def seeds(side: tuple[str, str]) -> list[list[float]]:
        layer = point_of(side[0], output_layer)
        profiles = radial[layer][metric][side[1]]
        for i, p in enumerate(profiles):  # a damaged JSON is one line, not an IndexError or a NaN verdict
            if len(p) <= max_shift or any(v is None or v != v for v in p[: max_shift + 1]):
                raise DataError(
                    f"the {metric} profile of {side[1]} at {layer}, seed index {i}, lacks radii 0..{max_shift}"
                    " (missing, null or NaN values): rerun the figure"
                )
        return profiles

    a, b = seeds(claim.a), seeds(claim.b)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    means = [[full_ring_mean(torch.tensor(x), max_shift) for x in side] for side in (a, b)]
    diffs = [x - y for x, y in zip(*means, strict=True)]
    summary = mean_ci(diffs)
    per_radius = [paired_difference([x[r] for x in a], [x[r] for x in b]) for r in range(1, max_shift + 1)]
    out = {"claim": claim.text, "a": list(claim.a), "b": list(claim.b), "direction": direction, "metric": metric}
    out |= {"radii": [1, max_shift], "n": n, "difference": summary}
    untested = untested_reason(claim, metric, summary)
    if untested:
        none = {"test": None, "p": None, "verdict": f"not tested: {untested}", "seeds_needed": None}
        return out | none | {"per_radius": [], "holds_at_radii": [], "fails_at_radii": []}
    margin = claim.margin if metric == PAPER_METRIC else METRICS[metric].equivalence_margin
    if direction == 0:  # "no difference": equivalence, not absence of evidence
        result, test = equivalence_verdict(diffs, margin)
        out |= {"test": "TOST", "margin": margin, "tost": test, "p": test["p"], "verdict": result}
        out["seeds_needed"] = seeds_needed(summary["mean"], summary["std"], margin)
    else:
        p = two_sided_p(diffs)
        out |= {"test": "paired t", "p": p, "verdict": verdict(summary, direction)}
        on_side = summary["mean"] * direction > 0  # a mean against the claim resolves it the other way
        out["seeds_needed"] = seeds_needed(summary["mean"], summary["std"]) if on_side else None
    out["per_radius"] = [{"r": r + 1} | {k: ci[k] for k in ("mean", "low", "high")} for r, ci in enumerate(per_radius)]
    out["per_radius_note"] = "exploratory: 95 % intervals per radius, no multiplicity correction"
    out["holds_at_radii"] = [
        r + 1 for r, ci in enumerate(per_radius) if direction and verdict(ci, direction) == "holds"
    ]
    out["fails_at_radii"] = [
        r + 1 for r, ci in enumerate(per_radius) if direction and verdict(ci, direction) == "does not hold"
    ]
    return out


def untested_reason(claim: Claim, metric: str, summary: dict) -> str | None:
    """Why a claim cannot be tested on these numbers, or None: two layers of different size on a metric that is not
    scale-free; "no effect" on a metric without a margin; or no spread over seeds (identical runs, such as copies,
    would give p = 0 and a verdict from nothing)."""
    m = METRICS[metric]
    if claim.a[0] != claim.b[0] and not m.scale_free:
        return f"{metric} is not comparable across layers of different size (use a normalised metric)"
    if claim.direction == 0 and metric != PAPER_METRIC and m.equivalence_margin is None:
        return f"no equivalence margin is set for {metric} (src/sensitivity/metrics.py)"
    if summary["n"] >= 2 and summary["std"] == 0:
        return f"no spread over {summary['n']} seeds (identical runs?)"
    return None


def holm_adjust(claims: list[dict]) -> list[dict]:
    """The claims of one figure at one measuring point, each with `p_holm` (Holm across the family) and
    `verdict_holm`: directional claims hold (or not) only if their two-sided p survives Holm; equivalence claims
    are equivalent only if their TOST p does."""
    adjusted = holm([c.get("p") for c in claims])
    out = []
    for c, p in zip(claims, adjusted, strict=True):
        n = c.get("n", c["difference"]["n"])
        if c["verdict"].startswith("not tested"):
            v = c["verdict"]
        elif p is None or p >= ALPHA:
            v = "different" if c["direction"] == 0 and c["verdict"] == "different" else f"unresolved at n={n}"
        elif c["direction"] == 0:
            v = "equivalent"
        else:
            on_side = c["difference"]["mean"] * c["direction"] > 0
            v = "holds" if on_side else "does not hold"
        out.append(c | {"p_holm": p, "verdict_holm": v})
    return out


def claims_for(
    claims: Sequence[Claim], radial: dict, output_layer: str, max_shift: int, metric: str = PAPER_METRIC
) -> dict:
    """{"claims": at the figure's output point, "claims_logits": the same at the logits (when measured and not
    the output point)}, each Holm-adjusted as one family, tested on `metric`. A pure function of the radial
    numbers, so a figure JSON can be re-scored without its runs (`redraw=true`)."""

    def family(at: str) -> list[dict]:
        measured = [c for c in claims if all(side[1] in radial[point_of(side[0], at)][metric] for side in (c.a, c.b))]
        why = "skipped: a network it compares was not in the preset"
        skipped = [
            {"claim": c.text, "a": list(c.a), "b": list(c.b), "direction": c.direction, "skipped": True, "verdict": why}
            for c in claims
            if c not in measured
        ]
        return holm_adjust([evaluate_claim(c, radial, at, max_shift, metric) for c in measured]) + skipped

    out = {"claims": family(output_layer)}
    if LOGITS in radial and output_layer != LOGITS:  # the same claims at the logits, for comparison
        out["claims_logits"] = family(LOGITS)
    return out


def reported_claims(fig: dict) -> Iterator[tuple[dict, str]]:
    """(claim, the point its first side was tested at) of a figure JSON: its claims at the output point, then those
    at the logits that involve the output point (a claim about conv alone reads the same at any output point)."""
    for key, output_layer in (("claims", fig.get("output_layer", SOFTMAX)), ("claims_logits", LOGITS)):
        for c in fig.get(key, []):
            if key == "claims" or OUTPUT in (c["a"][0], c["b"][0]):
                yield c, point_of(c["a"][0], output_layer)
