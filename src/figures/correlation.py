"""Fig. 1: per class, the Pearson correlation of the cosine map with the accuracy map and with the (negated)
Euclidean-distance map, per seed; claims: each correlation is very strong (class mean r >= 0.8)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from src import plotting
from src.figures.inputs import FigureInputs
from src.plotting import add_note
from src.sensitivity import SensitivityResult, pearson
from src.sensitivity.stats import mean_ci, verdict

KEY = "correlation"
STRONG_CORRELATION = 0.8  # |r| at or above this counts as "very strong" (the usual convention)


def correlation_numbers(results: list[SensitivityResult], layer: str) -> dict:
    """Fig. 1 per seed and class: Pearson r of cosine vs accuracy, of -distance vs accuracy, of cosine vs -distance.

    The raw Euclidean distance grows as outputs differ, so it enters negated: every r is then positive when the two
    maps agree (large = similar), as the paper's "strong positive correlation" reads. r(distance, accuracy) = -r here.
    """
    pairs = {
        "cosine vs accuracy": lambda r: pearson(r.get(layer, "cosine"), r.accuracy),
        "-distance vs accuracy": lambda r: pearson(-r.get(layer, "distance"), r.accuracy),
        "cosine vs -distance": lambda r: pearson(r.get(layer, "cosine"), -r.get(layer, "distance")),
    }
    per_class = {name: [f(r).tolist() for r in results] for name, f in pairs.items()}
    class_means = {
        name: mean_ci([float(torch.tensor(v).nanmean()) for v in seeds]) for name, seeds in per_class.items()
    }

    def above_strong(ci: dict) -> dict:  # the interval of r - STRONG_CORRELATION: its verdict is "r >= STRONG"
        return ci if ci["low"] is None else ci | {k: ci[k] - STRONG_CORRELATION for k in ("low", "high")}

    claim = f"very strong positive correlation (class mean r >= {STRONG_CORRELATION})"
    claims = [
        {"claim": f"{name}: {claim}", "class_mean_r": ci, "verdict": verdict(above_strong(ci))}
        for name, ci in class_means.items()
    ]
    return {"layer": layer, "per_class": per_class, "claims": claims}


def numbers(inputs: FigureInputs) -> dict:
    corr = correlation_numbers(next(iter(inputs.results.values())), inputs.output_layer)
    return {KEY: corr, "claims": corr["claims"]}


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    corr = numbers[KEY]
    n = len(next(iter(corr["per_class"].values())))
    title = f"{spec.title}: per-class Pearson r at {corr['layer']} (mean ± 1 std over {n} seeds)"
    # "-distance" read as a hyphen: the legend says negated
    shown = {k.replace("-distance", "negated distance"): v for k, v in corr["per_class"].items()}
    return plotting.save_figure(correlation_figure(shown, title, note), fig_dir / numbers["name"])


def correlation_figure(
    correlations: Mapping[str, Sequence[Sequence[float]]], title: str = "", note: str = ""
) -> plt.Figure:
    """Fig. 1: per-class Pearson correlations; `correlations` maps a pair name to one list of per-class r per seed.

    Points are the mean over seeds with ±1 std error bars (only with several seeds). Points, not bars: the values sit
    near 1, where bars would need a cut axis to show any difference.
    """
    stacks = {k: np.asarray(v, dtype=float) for k, v in correlations.items()}
    classes = np.arange(next(iter(stacks.values())).shape[1])
    fig, ax = plt.subplots(figsize=(7.4, 3.4), layout="constrained")
    width = 0.6 / len(stacks)
    for i, (name, vals) in enumerate(stacks.items()):
        err = np.nanstd(vals, 0, ddof=1) if len(vals) > 1 else None
        x, marker = classes + (i - (len(stacks) - 1) / 2) * width, plotting.MARKERS[i % len(plotting.MARKERS)]
        ax.errorbar(x, np.nanmean(vals, 0), yerr=err, capsize=2, ls="none", marker=marker, ms=5, label=name)
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("Pearson correlation")
    ax.set_ylim(top=1.0)
    n = len(next(iter(stacks.values())))
    ax.set_title(title or f"Per-class correlation of sensitivity maps (mean over {n} seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(stacks))
    add_note(fig, note)
    return fig
