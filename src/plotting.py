"""What every figure shares: point titles, the radial-profile panels, markers, the provenance note, saving.

Plain numbers in (lists, as stored in figures/*.json), matplotlib Figure out; each figure kind draws the rest in its
own module of `src/figures/`. Nothing here trains, measures or finds files, so every figure can be redrawn from its
JSON alone (`python -m src.reproduce figure=N redraw=true`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from src.files import atomic_write
from src.models.points import point_titles  # noqa: E402
from src.sensitivity.metrics import METRICS  # noqa: E402


def layer_title(layer: str) -> str:
    """A figure's name for a measuring point (its model's registry, src/models/points.py), or the point's own name."""
    global _TITLES
    if not _TITLES:
        from src.conf import import_models

        import_models()  # every model's points registered, not only those of the models imported so far
        _TITLES = point_titles()
    return _TITLES.get(layer, layer)


_TITLES: dict[str, str] = {}


# §4.3.1 of the paper, on every figure that compares measuring points of different sizes
DEPTH_CAVEAT = (
    "caveat (§4.3.1): the points' vectors differ in dimension (1,600 input pixels to 10 outputs), and "
    "dimension alone moves cosine values"
)


def metric_label(name: str) -> str:
    """A figure's name for a metric (its METRICS label), "accuracy" for the shifted images' accuracy."""
    return METRICS[name].label if name in METRICS else name


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
                ax.fill_between(full, (mean - std)[full], (mean + std)[full], color=line.get_color(), alpha=0.2)
            if corner_radii and len(mean) > max_shift + 1:
                corner = np.arange(max_shift, len(mean))
                ax.plot(corner, mean[corner], ls=":", marker=marker, ms=4, mfc="none", color=line.get_color())
        if corner_radii:
            ax.axvline(max_shift + 0.5, color="grey", lw=0.8, ls="--")
            ax.plot([], [], ls=":", marker="o", mfc="none", color="grey", label=f"r > {max_shift}: corner shifts only")
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("shift radius (pixels)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="best")  # matplotlib places it where it covers the fewest points
    axes[0, 0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    add_note(fig, note)
    return fig


def add_note(fig: plt.Figure, note: str) -> None:
    """The provenance line (preset, date, command) under the figure; empty: none."""
    if note:
        fig.text(0.99, 0.0, note, ha="right", va="top", fontsize=6, color="gray")


def map_with_colorbar(values: np.ndarray, max_shift: int, vmin: float, vmax: float, title: str = "") -> np.ndarray:
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


def save_figure(fig: plt.Figure, path: Path) -> list[Path]:
    """PNG and PDF beside each other (path's suffix replaced), each written atomically; the figure is closed."""

    # no creation date in the PDF: a redraw of unchanged numbers leaves the files (and git) unchanged
    def save(ext: str) -> Path:
        metadata = {"CreationDate": None} if ext == "pdf" else None
        return atomic_write(path.with_suffix(f".{ext}"), lambda p: fig.savefig(p, format=ext, metadata=metadata))

    out = [save(ext) for ext in ("png", "pdf")]
    plt.close(fig)
    return out
