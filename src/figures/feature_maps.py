"""Fig. 3: one test image and its copy shifted by one map cell, with three channels of the last conv block for each
(the point is read through the measuring-point registry, `capturing`, never through the network's attributes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from src import plotting
from src.figures.inputs import FigureInputs
from src.plotting import add_note
from src.sensitivity.maps import CONV

KEY = "feature_maps"
POINT = CONV  # the measuring point drawn: the last conv block (after its pool)
# (dx, dy), pixels: one cell of the 5x5 maps (three 2x2 pools: 8 input px per cell), so the maps move by whole cells;
# the digit (inside the central 20x20 of its 28x28 image, plus the 6 px border) stays inside the 40x40 input
FIG3_SHIFT = (8, 8)


def feature_maps(run: dict) -> dict:
    """Fig. 3 from one run: the first test image, its shifted copy, and 3 channels of the last conv block."""
    import torch

    from src.runs import RunRecord
    from src.sensitivity import shift_images
    from src.sensitivity.maps import capturing

    net, dm = RunRecord(run).network()
    dm.setup("test")
    x = dm.test_set.images[:1]
    xs = shift_images(x, *FIG3_SHIFT, fill=dm.fill_value)
    with capturing(net, [POINT]) as out, torch.inference_mode():
        net(x)
        base = out[POINT][0, :3]
        net(xs)
        shifted = out[POINT][0, :3]

    def image(t):  # (C, H, W) -> (H, W) or (H, W, C) for imshow
        return t.permute(1, 2, 0).squeeze(-1).tolist()

    images = {"image": image(x[0]), "shifted": image(xs[0]), "maps": base.tolist(), "maps_shifted": shifted.tolist()}
    return {"run": run["run_dir"], "shift": list(FIG3_SHIFT)} | images


def numbers(inputs: FigureInputs) -> dict:
    return {KEY: feature_maps(inputs.single_run)}


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    fm = numbers[KEY]
    fig = feature_map_figure(
        fm["image"], fm["shifted"], fm["maps"], fm["maps_shifted"], fm["shift"], title=spec.title, note=note
    )
    return plotting.save_figure(fig, fig_dir / numbers["name"])


def feature_map_figure(
    image: np.ndarray,
    shifted: np.ndarray,
    maps: np.ndarray,
    maps_shifted: np.ndarray,
    shift: Sequence[int],
    title: str = "",
    note: str = "",
) -> plt.Figure:
    """Fig. 3: input, shifted input, and the first three channels of the last conv block for each.

    image, shifted: (H, W) or (H, W, C); maps, maps_shifted: (3, h, w), one colour scale for all six maps.
    """
    fig, axes = plt.subplots(2, 4, figsize=(8.4, 4.4), layout="constrained")
    # input pixels per map cell (8 for 40 -> 5)
    cell = np.asarray(image).shape[0] / np.asarray(maps).shape[-1]
    moved = f"{shift[0] / cell:g}, {shift[1] / cell:g}"
    side = np.asarray(maps).shape[-1]
    label = f"shifted by (dx, dy) = {tuple(shift)} px\n= ({moved}) cells of the {side}x{side} maps"
    rows = [("input", image, maps), (label, shifted, maps_shifted)]
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
    fig.colorbar(im, ax=axes[:, 1:], shrink=0.8, label="activation (after ReLU and pool)")
    if title:
        fig.suptitle(title, fontsize=10)
    add_note(fig, note)
    return fig
