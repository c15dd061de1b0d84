"""§4.3.1 of the paper: dimension alone moves both metrics. One set of shifts measured on (a) the input image and
(b) a trained network's last conv block, each average-pooled to several dimensions D."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from src import plotting
from src.figures.inputs import FigureInputs
from src.plotting import add_note
from src.sensitivity.maps import CONV

KEY = "dimensionality"
POINT = CONV  # the network's measuring point pooled to several D: its last conv block


def dimensionality_numbers(run: dict, images_per_class: int, max_shift: int) -> dict:
    """part -> metric -> "D=..." -> class-mean radial profile, on `images_per_class` test images per class."""
    from torch import nn

    from src.data import balanced_subset
    from src.runs import RunRecord
    from src.sensitivity import translation_sensitivity
    from src.sensitivity.dimensionality import PooledViews
    from src.sensitivity.maps import PointOutput

    net, dm = RunRecord(run).network()
    dm.setup("test")
    idx = balanced_subset(dm.test_set.labels, images_per_class, dm.num_classes)
    x, y = dm.test_set.images[idx], dm.test_set.labels[idx]
    trunk = PointOutput(net, POINT)
    side, channels = trunk(x[:1]).shape[-1], trunk(x[:1]).shape[1]
    parts = {
        "input image": PooledViews(nn.Identity(), x.shape[1], [x.shape[-1], x.shape[-1] // 2, x.shape[-1] // 4, 5]),
        f"conv output (k={run['config']['kernel']} network)": PooledViews(trunk, channels, [side, 3, 2, 1]),
    }
    numbers = {}
    for part, model in parts.items():
        res = translation_sensitivity(model, x, y, model.layer_names, dm.num_classes, max_shift, dm.fill_value)
        numbers[part] = {
            m: {f"D={name.split('.d')[-1]}": res.radial_mean(name, m).tolist() for name in model.layer_names}
            for m in ("cosine", "distance")
        }
    return numbers


def numbers(inputs: FigureInputs) -> dict:
    return {KEY: dimensionality_numbers(inputs.single_run, inputs.images_per_class or 100, inputs.max_shift)}


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    written = []
    for part, profiles in numbers[KEY].items():
        fig = dimensionality_figure(
            profiles,
            numbers["max_shift"],
            note=note,
            title=f"{spec.title}: {part}\nD = values per vector, reduced "
            "by average-pooling each channel to s x s (D = channels x s x s); same images, same shifts",
        )
        written += plotting.save_figure(fig, fig_dir / f"{numbers['name']}_{part.split()[0]}")
    return written


def dimensionality_figure(
    profiles: Mapping[str, Mapping[str, Sequence[float]]], max_shift: int, title: str = "", note: str = ""
) -> plt.Figure:
    """§4.3.1: the same shifts measured at several dimensions D; profiles[metric][label] -> radial profile."""
    metrics = list(profiles)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.6), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (label, prof) in enumerate(profiles[metric].items()):
            prof = np.asarray(prof, dtype=float)[: max_shift + 1]
            ax.plot(prof, marker=plotting.MARKERS[i % len(plotting.MARKERS)], ms=4, label=label)
        ax.set_xlabel("shift radius (pixels)")
        ax.set_ylabel(f"{plotting.metric_label(metric)} (class mean)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    add_note(fig, note)
    return fig
