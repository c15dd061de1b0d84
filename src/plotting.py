"""One function per figure: results in, matplotlib Figure out. No training, no file discovery here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.sensitivity import SensitivityResult, pearson  # noqa: E402

LAYER_TITLES = {"conv": "final convolutional layer output", "fc": "final fully connected layer output"}
METRIC_LABELS = {
    "cosine": "cosine similarity",
    "euclidean": "Euclidean similarity",
    "distance": "Euclidean distance",
    "accuracy": "accuracy",
}

plt.rcParams.update({"figure.dpi": 120, "savefig.bbox": "tight", "axes.grid": True, "grid.alpha": 0.3})


def _mean_std(curves: Sequence[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    stack = torch.stack([c.double() for c in curves]).numpy()
    return stack.mean(0), stack.std(0)


def radial_figure(
    results: Mapping[str, Sequence[SensitivityResult]],
    layer: str,
    metric: str = "cosine",
    title: str = "",
    note: str = "",
) -> plt.Figure:
    """Radial sensitivity functions, one line per label (e.g. 'k=3'), mean over seeds with a ±1 std band.

    results: label -> the SensitivityResults of that network's seeds.
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for label, res in results.items():
        mean, std = _mean_std([r.radial_mean(layer, metric) for r in res])
        radii = np.arange(len(mean))
        ax.plot(
            radii, mean, marker="o", ms=3, label=f"{label} ({len(res)} seed{'s' if len(res) > 1 else ''})"
        )
        if len(res) > 1:
            ax.fill_between(radii, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("shift radius (pixels)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (class mean)")
    ax.set_title(title or LAYER_TITLES.get(layer, layer), fontsize=10)
    ax.legend(fontsize=8)
    _note(fig, note)
    return fig


def correlation_figure(results: Sequence[SensitivityResult], layer: str = "fc", note: str = "") -> plt.Figure:
    """Fig. 1: per-class Pearson correlation of the cosine and the Euclidean map with the accuracy map.

    Bars are means over the seeds (the given results), error bars their std.
    """
    rows = {
        m: torch.stack([pearson(r.get(layer, m), r.accuracy) for r in results]).numpy()
        for m in ("cosine", "euclidean")
    }
    classes = np.arange(rows["cosine"].shape[1])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.38
    for i, (metric, vals) in enumerate(rows.items()):
        ax.bar(classes + (i - 0.5) * width, np.nanmean(vals, 0), width, yerr=np.nanstd(vals, 0), capsize=2,
               label=f"{METRIC_LABELS[metric]} vs accuracy")  # fmt: skip
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("Pearson correlation")
    ax.set_ylim(min(0.0, float(np.nanmin([v.min() for v in rows.values()]))) - 0.05, 1.05)
    seeds = f"{len(results)} seed{'s' if len(results) > 1 else ''}"
    ax.set_title(f"Correlation of {layer} sensitivity maps with accuracy maps ({seeds})", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    _note(fig, note)
    return fig


def feature_map_figure(image: torch.Tensor, shifted: torch.Tensor, maps: torch.Tensor, maps_shifted: torch.Tensor,
                       shift: tuple[int, int], note: str = "") -> plt.Figure:  # fmt: skip
    """Fig. 3: input, shifted input, and the first three channels of the last conv block for each.

    image, shifted: (C, H, W); maps, maps_shifted: (channels, h, w).
    """
    fig, axes = plt.subplots(2, 4, figsize=(8.4, 4.4))
    rows = [("input", image, maps), (f"shifted by (dx, dy) = {shift}", shifted, maps_shifted)]
    vmax = float(torch.stack([maps[:3], maps_shifted[:3]]).max())
    for r, (name, img, fmap) in enumerate(rows):
        axes[r, 0].imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
        axes[r, 0].set_title(name, fontsize=9)
        for c in range(3):
            axes[r, c + 1].imshow(fmap[c].numpy(), cmap="viridis", vmin=0, vmax=vmax)
            axes[r, c + 1].set_title(f"ch. {c + 1} output", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    _note(fig, note)
    return fig


def class_maps_figure(
    result: SensitivityResult, layer: str | None, metric: str = "cosine", note: str = ""
) -> plt.Figure:
    """Beyond the paper: the per-class maps as a grid of heatmaps (x: dx, y: dy, pixels)."""
    maps = result.get(layer, metric).numpy()
    s = result.max_shift
    cols = 5
    rows = int(np.ceil(len(maps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows + 0.4), squeeze=False)
    lo, hi = np.nanmin(maps), np.nanmax(maps)
    for c, ax in enumerate(axes.flat):
        ax.grid(False)
        if c >= len(maps):
            ax.axis("off")
            continue
        im = ax.imshow(maps[c], extent=(-s - 0.5, s + 0.5, s + 0.5, -s - 0.5), vmin=lo, vmax=hi, cmap="magma")
        ax.set_title(f"class {c}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label=METRIC_LABELS.get(metric, metric))
    fig.suptitle(f"Translation-sensitivity maps, {layer or ''} {metric} (x: dx, y: dy)", fontsize=10)
    _note(fig, note)
    return fig


def epochs_figure(
    results: Sequence[SensitivityResult], layer: str, metric: str = "cosine", note: str = ""
) -> plt.Figure:
    """Beyond the paper: the class-mean radial profile after each epoch (from the epoch-end callback)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(results):
        ax.plot(r.radial_mean(layer, metric).numpy(), color=cmap(i / max(1, len(results) - 1)),
                label=f"epoch {r.meta.get('epoch', i)}")  # fmt: skip
    ax.set_xlabel("shift radius (pixels)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"{LAYER_TITLES.get(layer, layer)} over training", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    _note(fig, note)
    return fig


def _note(fig: plt.Figure, note: str) -> None:
    if note:
        fig.text(0.99, -0.01, note, ha="right", va="top", fontsize=6, color="gray")
