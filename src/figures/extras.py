"""Extras of one network (Table 1 k=5): per-class cosine maps at conv and the output point (the paper's Fig. 2
insets as full maps), and its radial profile after every epoch of training (from the epoch-end callback)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from src import plotting
from src.figures.inputs import FigureInputs
from src.plotting import add_note
from src.sensitivity.maps import CONV
from src.sensitivity.metrics import PAPER_METRIC

KEY = "class_maps"


def extras_numbers(run: dict, result, out: str) -> dict:
    """Per-class cosine maps of one run (conv and the output point) and its radial profiles after every epoch."""
    from src.callbacks.sensitivity import EPOCHS_DIR
    from src.sensitivity import SensitivityResult

    epoch_files = sorted((Path(run["run_dir"]) / EPOCHS_DIR).glob("epoch=*.pt"))
    per_epoch = [SensitivityResult.load(f) for f in epoch_files]
    layers = [layer for layer in (CONV, out) if per_epoch and layer in per_epoch[0].maps]
    return {
        "class_maps_run": f"seed {run['config']['seed']}",
        "class_names": run["config"].get("dataset", {}).get("class_names"),
        KEY: {layer: result.get(layer, PAPER_METRIC).tolist() for layer in (CONV, out)},
        "epochs": {
            "run": run["run_dir"],
            "subset": "epoch-end callback: fixed class-balanced validation subset",
            "images": per_epoch[0].meta.get("images") if per_epoch else None,
            "selected_epoch": run.get("selected_epoch"),
            "epochs": [r.meta.get("epoch", i) for i, r in enumerate(per_epoch)],
            "profiles": {layer: [r.radial_mean(layer, PAPER_METRIC).tolist() for r in per_epoch] for layer in layers},
        },
    }


def numbers(inputs: FigureInputs) -> dict:
    return extras_numbers(inputs.single_run, inputs.single_result, inputs.output_layer)


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    """class_maps_<point>.png/pdf per measuring point, epochs_<point>.png/pdf per point the callback measured;
    prefixed by the figure's dataset ("fashion_extras" -> fashion_class_maps_conv.png), so datasets never overwrite
    each other's files."""
    from src.wandb_log import cosine_range

    max_shift, written = numbers["max_shift"], []
    prefix = numbers["name"].removesuffix("extras")  # "" for the paper's MNIST extras
    per_class = numbers.get("images_per_class") or []
    images = f", {per_class[0]} test images per class" if per_class and len(set(per_class)) == 1 else ""
    for layer, maps in numbers[KEY].items():
        fig = class_maps_figure(
            maps,
            max_shift,
            title=f"Per-class cosine maps, {plotting.layer_title(layer)}\n{spec.title}, "
            f"{numbers['class_maps_run']}{images}",
            note=note,
            class_names=numbers.get("class_names"),
            vrange=cosine_range(layer),  # one colour scale per measuring point: conv and softmax compare
        )
        written += plotting.save_figure(fig, fig_dir / f"{prefix}class_maps_{layer}")
    ep = numbers["epochs"]
    subset = f"{ep['images']} validation images" if ep.get("images") else "fixed validation subset"
    for layer, profiles in ep["profiles"].items():
        fig = epochs_figure(
            profiles,
            ep["epochs"],
            max_shift,
            "cosine similarity (class mean)",
            note=note,
            title=f"{plotting.layer_title(layer)} over training\n{spec.title}, {numbers['class_maps_run']}, {subset}",
            selected=ep.get("selected_epoch"),
        )
        written += plotting.save_figure(fig, fig_dir / f"{prefix}epochs_{layer}")
    return written


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
    size = (2.1 * cols + 1.0, 2.2 * rows + 0.5)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, sharex=True, sharey=True, layout="constrained")
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
    add_note(fig, note)
    return fig


def epochs_figure(
    profiles: Sequence[Sequence[float]],
    epochs: Sequence[int],
    max_shift: int,
    ylabel: str,
    title: str = "",
    note: str = "",
    selected: int | None = None,
) -> plt.Figure:
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
    if len(profiles) <= 10:
        ax.legend(fontsize=7, ncol=2, loc="upper right")
    else:  # a legend of every epoch covered half the axes (26 entries): a colour bar of the epochs instead
        bar = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(min(epochs), max(epochs)), cmap), ax=ax, pad=0.02)
        bar.set_label("epoch", fontsize=8)
        if selected is not None:
            marked = [h for h, lab in zip(*ax.get_legend_handles_labels(), strict=True) if "selected" in lab]
            ax.legend(handles=marked, fontsize=7, loc="upper right")
    add_note(fig, note)
    return fig
