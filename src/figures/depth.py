"""Invariance through depth: the class-mean cosine at every stage from input to softmax (layers=all), per network;
also drawn beside the figures with variants (levers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from src import plotting
from src.figures.inputs import FigureInputs
from src.plotting import add_note
from src.sensitivity import SensitivityResult
from src.sensitivity.metrics import PAPER_METRIC
from src.sensitivity.stats import full_ring_mean

KEY = "depth"
OUTPUT = "sensitivity_all.pt"  # this kind's maps: layers=all, beside the paper's sensitivity.pt


def depth_numbers(results: dict[str, list[SensitivityResult]], max_shift: int) -> dict:
    """label -> {"layers": [...], "mean_cosine": per seed, per layer (r = 1..S), "radius_below_half": per seed,
    per layer (the first radius whose class-mean cosine is below 0.5; null if none up to S)}."""
    out = {}
    for label, res in results.items():
        layers = res[0].layers
        means, halves = [], []
        for r in res:
            profiles = {layer: r.radial_mean(layer, PAPER_METRIC) for layer in layers}
            means.append([full_ring_mean(profiles[la], max_shift) for la in layers])
            halves.append([next((i for i in range(1, max_shift + 1) if profiles[la][i] < 0.5), None) for la in layers])
        out[label] = {"layers": layers, "mean_cosine": means, "radius_below_half": halves}
    return out


def numbers(inputs: FigureInputs) -> dict:
    return {KEY: depth_numbers(inputs.labelled(inputs.results), inputs.max_shift)}


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    fig = depth_figure(numbers[KEY], numbers["max_shift"], title=f"{spec.title}; bars: ±1 std over seeds", note=note)
    return plotting.save_figure(fig, fig_dir / numbers["name"])


def depth_figure(depth: Mapping[str, Mapping], max_shift: int, title: str = "", note: str = "") -> plt.Figure:
    """Invariance through the network: per stage (input ... softmax), (a) the class-mean cosine averaged over radii
    1..S and (b) the first radius where it falls below 0.5 ("never" where it does not up to S; hollow markers where
    a seed never does, so the mean is a lower bound); one line per label, mean ± std over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    names: list[list[str]] = []  # stage i's names over the labels (a GAP head's "flatten" where others have "hidden")
    for d in depth.values():
        for i, layer in enumerate(d["layers"]):
            names.extend([] for _ in range(i + 1 - len(names)))
            if layer not in names[i]:
                names[i].append(layer)
    never = max_shift + 1  # (b) a seed whose cosine stays >= 0.5 up to S: drawn at S + 1, labelled "never"
    for i, (label, d) in enumerate(depth.items()):
        x = np.arange(len(d["layers"])) + 0.06 * (i - 1)
        marker, colour = plotting.MARKERS[i % len(plotting.MARKERS)], f"C{i}"
        for ax, key in zip(axes, ("mean_cosine", "radius_below_half"), strict=True):
            vals = np.array([[never if v is None else v for v in seed] for seed in d[key]], dtype=float)
            err = vals.std(0, ddof=1) if len(vals) > 1 else None
            style = {"marker": marker, "ms": 4, "capsize": 2, "color": colour, "label": f"{label} (n={len(vals)})"}
            ax.errorbar(x, vals.mean(0), yerr=err, **style)
            if key == "radius_below_half":  # hollow: a seed never fell below 0.5 (the mean is a lower bound)
                cut = (vals == never).any(0)
                ax.plot(x[cut], vals.mean(0)[cut], marker, ms=7, mfc="white", color=colour, ls="none")
    axes[1].axhline(max_shift + 0.5, color="gray", ls="--", lw=0.8)
    step = max(1, max_shift // 5)
    # a numeric axis: "never" is a band above it, said in text
    axes[1].set_yticks(range(0, max_shift + 1, step))
    axes[1].set_ylim(0, never + 0.7)
    small = {"fontsize": 7, "transform": axes[1].transAxes}
    never_text = f"never below 0.5 (up to r = {max_shift})"
    axes[1].text(0.02, (never + 0.1) / (never + 0.7), never_text, color="gray", va="center", **small)
    for ax in axes:
        ax.set_xticks(np.arange(len(names)), [" / ".join(n) for n in names], rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel(f"cosine similarity, mean over radii 1-{max_shift}")
    axes[1].set_ylabel("first radius with cosine < 0.5 (px)")
    axes[1].text(0.98, 0.03, f"hollow: some seed never falls below 0.5 up to r = {max_shift}", ha="right", **small)
    fig.supxlabel(f"measuring point (input to output)\n{plotting.DEPTH_CAVEAT}", fontsize=8)
    # one legend for both panels, in the left panel's lower right: the cosine rises with depth, so that corner is
    # empty (upper left covered the input and block1 markers; beside the panels it stood outside both)
    axes[0].legend(loc="lower right", fontsize=7, framealpha=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    add_note(fig, note)
    return fig
