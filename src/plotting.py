"""One function per figure: plain numbers in (lists, as stored in figures/figN.json), matplotlib Figure out.

Nothing here trains, measures or finds files, so every figure can be redrawn from its JSON alone
(`python -m src.reproduce figure=N redraw=true`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from src.models.cnn import POINT_TITLES  # noqa: E402
from src.sensitivity.metrics import METRICS  # noqa: E402


def layer_title(layer: str) -> str:
    """A figure's name for a measuring point (src.models.cnn.POINT_TITLES), or the point's own name."""
    return POINT_TITLES.get(layer, layer)


# §4.3.1 of the paper, on every figure that compares measuring points of different sizes
DEPTH_CAVEAT = (
    "caveat (§4.3.1): the points' vectors differ in dimension (1,600 input pixels to 10 outputs), and "
    "dimension alone moves cosine values"
)
METRIC_LABELS = {name: m.label for name, m in METRICS.items()} | {"accuracy": "accuracy"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

plt.rcParams.update({"figure.dpi": 120, "savefig.bbox": "tight", "axes.grid": True, "grid.alpha": 0.3})

Curves = Mapping[str, Sequence[Sequence[float]]]  # label (e.g. "k=3") -> one radial profile per seed


def radial_panels(
    panels: Mapping[str, Curves],
    max_shift: int,
    ylabel: str = "cosine similarity (class mean)",
    title: str = "",
    note: str = "",
    corner_radii: bool = True,
) -> plt.Figure:
    """Radial sensitivity functions, one panel per entry of `panels` (e.g. "(a) conv"), sharing the y axis.

    Each label is one line: the mean over its seeds, with a band of ±1 standard deviation over seeds (n-1) when there
    are several. Radii above `max_shift` are corner-only rings (few shifts, none on the axes): they are drawn with
    hollow markers and a dotted line after a grey divider, or left out when `corner_radii` is false.
    """
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.4 * len(panels), 3.6), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, (panel_title, curves) in zip(axes[0], panels.items(), strict=True):
        for i, (label, seeds) in enumerate(curves.items()):
            stack = np.asarray(seeds, dtype=float)
            mean = stack.mean(0)
            full = np.arange(min(len(mean), max_shift + 1))
            marker, n = MARKERS[i % len(MARKERS)], len(stack)
            (line,) = ax.plot(full, mean[full], marker=marker, ms=4, label=f"{label} (n={n})")
            if n > 1:
                std = stack.std(0, ddof=1)
                ax.fill_between(
                    full, (mean - std)[full], (mean + std)[full], color=line.get_color(), alpha=0.2
                )
            if corner_radii and len(mean) > max_shift + 1:
                corner = np.arange(max_shift, len(mean))
                ax.plot(corner, mean[corner], ls=":", marker=marker, ms=4, mfc="none", color=line.get_color())
        if corner_radii:
            ax.axvline(max_shift + 0.5, color="grey", lw=0.8, ls="--")
            ax.plot(
                [],
                [],
                ls=":",
                marker="o",
                mfc="none",
                color="grey",
                label=f"r > {max_shift}: corner shifts only",
            )
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("shift radius (pixels)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="best")  # matplotlib places it where it covers the fewest points
    axes[0, 0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    _note(fig, note)
    return fig


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
        ax.errorbar(classes + (i - (len(stacks) - 1) / 2) * width, np.nanmean(vals, 0), yerr=err, capsize=2,
                    ls="none", marker=MARKERS[i % len(MARKERS)], ms=5, label=name)  # fmt: skip
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("Pearson correlation")
    ax.set_ylim(top=1.0)
    n = len(next(iter(stacks.values())))
    ax.set_title(title or f"Per-class correlation of sensitivity maps (mean over {n} seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(stacks))
    _note(fig, note)
    return fig


def feature_map_figure(
    image: np.ndarray, shifted: np.ndarray, maps: np.ndarray, maps_shifted: np.ndarray, shift: Sequence[int],
    title: str = "", note: str = "",
) -> plt.Figure:  # fmt: skip
    """Fig. 3: input, shifted input, and the first three channels of the last conv block for each.

    image, shifted: (H, W) or (H, W, C); maps, maps_shifted: (3, h, w), one colour scale for all six maps.
    """
    fig, axes = plt.subplots(2, 4, figsize=(8.4, 4.4), layout="constrained")
    cell = (
        np.asarray(image).shape[0] / np.asarray(maps).shape[-1]
    )  # input pixels per map cell (8 for 40 -> 5)
    moved = f"{shift[0] / cell:g}, {shift[1] / cell:g}"
    rows = [("input", image, maps),
            (f"shifted by (dx, dy) = {tuple(shift)} px\n= ({moved}) cells of the {np.asarray(maps).shape[-1]}x"
             f"{np.asarray(maps).shape[-1]} maps", shifted, maps_shifted)]  # fmt: skip
    vmax = float(max(np.max(maps), np.max(maps_shifted)))
    for r, (name, img, fmap) in enumerate(rows):
        axes[r, 0].imshow(np.asarray(img), cmap="gray")
        axes[r, 0].set_title(name, fontsize=9)
        for c in range(3):
            im = axes[r, c + 1].imshow(np.asarray(fmap[c]), cmap="viridis", vmin=0, vmax=vmax)
            axes[r, c + 1].set_title(f"ch. {c + 1} output", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.colorbar(im, ax=axes[:, 1:], shrink=0.8, label="activation (after ReLU and max-pool)")
    if title:
        fig.suptitle(title, fontsize=10)
    _note(fig, note)
    return fig


def class_maps_figure(
    maps: Sequence[np.ndarray],
    max_shift: int,
    label: str = "cosine similarity",
    title: str = "",
    note: str = "",
    class_names: Sequence[str] | None = None,
    vrange: tuple[float, float] | None = None,
) -> plt.Figure:
    """Per-class translation-sensitivity maps (K, 2S+1, 2S+1) as a grid of heatmaps; x: dx, y: dy (pixels); panels
    titled by class_names (the dataset's, e.g. Fashion-MNIST's) or "class c". `vrange`: the colour range (the
    measuring point's fixed range, so figures of different points compare); None: the maps' own min and max."""
    maps = np.asarray(maps, dtype=float)
    s, cols = max_shift, 5
    rows = int(np.ceil(len(maps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols + 1.0, 2.2 * rows + 0.5), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")  # fmt: skip
    lo, hi = vrange if vrange is not None else (np.nanmin(maps), np.nanmax(maps))
    ticks = [-s, 0, s]
    for c, ax in enumerate(axes.flat):
        ax.grid(False)
        if c >= len(maps):
            ax.axis("off")
            continue
        im = ax.imshow(maps[c], extent=(-s - 0.5, s + 0.5, s + 0.5, -s - 0.5), vmin=lo, vmax=hi, cmap="magma")
        ax.set_title(class_names[c] if class_names else f"class {c}", fontsize=9)
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("dx (px)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("dy (px)", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label=label)
    if title:
        fig.suptitle(title, fontsize=10)
    _note(fig, note)
    return fig


def epochs_figure(
    profiles: Sequence[Sequence[float]], epochs: Sequence[int], max_shift: int, ylabel: str, title: str = "",
    note: str = "", selected: int | None = None,
) -> plt.Figure:  # fmt: skip
    """The class-mean radial profile after each epoch (from the epoch-end callback), coloured by epoch; the
    `selected` epoch (the checkpoint the other figures measure) drawn thick and black."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8), layout="constrained")
    cmap = plt.get_cmap("viridis")
    for i, (prof, epoch) in enumerate(zip(profiles, epochs, strict=True)):
        prof = np.asarray(prof, dtype=float)[: max_shift + 1]
        if epoch == selected:
            ax.plot(prof, color="black", lw=2.2, label=f"epoch {epoch} (selected)", zorder=3)
        else:
            ax.plot(prof, color=cmap(i / max(1, len(profiles) - 1)), label=f"epoch {epoch}")
    ax.set_xlabel("shift radius (pixels)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    _note(fig, note)
    return fig


def dimensionality_figure(
    profiles: Mapping[str, Mapping[str, Sequence[float]]], max_shift: int, title: str = "", note: str = ""
) -> plt.Figure:
    """§4.3.1: the same shifts measured at several dimensions D; profiles[metric][label] -> radial profile."""
    metrics = list(profiles)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.6), squeeze=False,
                             layout="constrained")  # fmt: skip
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (label, prof) in enumerate(profiles[metric].items()):
            prof = np.asarray(prof, dtype=float)[: max_shift + 1]
            ax.plot(prof, marker=MARKERS[i % len(MARKERS)], ms=4, label=label)
        ax.set_xlabel("shift radius (pixels)")
        ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (class mean)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    _note(fig, note)
    return fig


def depth_figure(depth: Mapping[str, Mapping], max_shift: int, title: str = "", note: str = "") -> plt.Figure:
    """Invariance through the network: per stage (input ... softmax), (a) the class-mean cosine averaged over radii
    1..S and (b) the first radius where it falls below 0.5 ("never" where it does not up to S; hollow markers where
    a seed never does, so the mean is a lower bound); one line per label, mean ± std over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    names: list[
        list[str]
    ] = []  # stage i's names over the labels (a GAP head's "flatten" where others have "hidden")
    for d in depth.values():
        for i, layer in enumerate(d["layers"]):
            names.extend([] for _ in range(i + 1 - len(names)))
            if layer not in names[i]:
                names[i].append(layer)
    never = max_shift + 1  # (b) a seed whose cosine stays >= 0.5 up to S: drawn at S + 1, labelled "never"
    for i, (label, d) in enumerate(depth.items()):
        x = np.arange(len(d["layers"])) + 0.06 * (i - 1)
        marker, colour = MARKERS[i % len(MARKERS)], f"C{i}"
        for ax, key in zip(axes, ("mean_cosine", "radius_below_half"), strict=True):
            vals = np.array([[never if v is None else v for v in seed] for seed in d[key]], dtype=float)
            err = vals.std(0, ddof=1) if len(vals) > 1 else None
            ax.errorbar(x, vals.mean(0), yerr=err, marker=marker, ms=4, capsize=2, color=colour,
                        label=f"{label} (n={len(vals)})")  # fmt: skip
            if key == "radius_below_half":  # hollow: a seed never fell below 0.5 (the mean is a lower bound)
                cut = (vals == never).any(0)
                ax.plot(x[cut], vals.mean(0)[cut], marker, ms=7, mfc="white", color=colour, ls="none")
    axes[1].axhline(max_shift + 0.5, color="gray", ls="--", lw=0.8)
    step = max(1, max_shift // 5)
    ticks = [*range(0, max_shift + 1, step), never]
    axes[1].set_yticks(ticks, [str(t) for t in ticks[:-1]] + ["never"])
    axes[1].set_ylim(0, never + 0.5)
    for ax in axes:
        ax.set_xticks(
            np.arange(len(names)), [" / ".join(n) for n in names], rotation=30, ha="right", fontsize=8
        )
    axes[0].set_ylabel(f"cosine similarity, mean over radii 1-{max_shift}")
    axes[1].set_ylabel("first radius with cosine < 0.5 (px)")
    axes[1].text(0.98, 0.03, f"hollow: some seed never falls below 0.5 up to r = {max_shift}", fontsize=7,
                 ha="right", transform=axes[1].transAxes)  # fmt: skip
    fig.supxlabel(f"measuring point (input to output)\n{DEPTH_CAVEAT}", fontsize=8)
    # one legend beside both panels: inside either panel it covered the input and block1 markers
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    _note(fig, note)
    return fig


def map_to_rgb(values: np.ndarray, vmin: float = 0.0, vmax: float = 1.0, scale: int = 8,
               cmap: str = "magma") -> np.ndarray:  # fmt: skip
    """A 2-D map as a uint8 RGB image (H * scale, W * scale, 3) through a colormap, for W&B and other viewers.

    wandb.Image writes float arrays as uint8 without scaling, so maps in [0, 1] became black images: colour here.
    """
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=vmin)
    rgb = plt.get_cmap(cmap)(np.clip((v - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0))[..., :3]
    return (np.kron(rgb, np.ones((scale, scale, 1))) * 255).round().astype(np.uint8)


def _note(fig: plt.Figure, note: str) -> None:
    """The provenance line (preset, date, command) under the figure; empty: none."""
    if note:
        fig.text(0.99, 0.0, note, ha="right", va="top", fontsize=6, color="gray")


def map_with_colorbar(
    values: np.ndarray, max_shift: int, vmin: float, vmax: float, title: str = ""
) -> np.ndarray:
    """One (2S+1, 2S+1) map drawn with axes in px and a colour bar on [vmin, vmax], as a uint8 RGB array (H, W, 3):
    what W&B shows, on a scale fixed by the caller so that images of different epochs and runs compare."""
    s = max_shift
    fig, ax = plt.subplots(figsize=(3.0, 2.5), dpi=100)
    im = ax.imshow(values, extent=(-s - 0.5, s + 0.5, s + 0.5, -s - 0.5), vmin=vmin, vmax=vmax, cmap="magma")
    ax.set_xlabel("dx (px)", fontsize=7)
    ax.set_ylabel("dy (px)", fontsize=7)
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    fig.colorbar(im, ax=ax).ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
