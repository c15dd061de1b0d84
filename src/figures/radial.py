"""Radial sensitivity figures (Figs. 2, 4, 5, 6, the Fashion-MNIST ones, levers): class-mean cosine against shift
radius per network, mean ± 1 std over seeds, at the last conv block and/or the output point; the paper's claims
tested on them (`claims`); the logits as a companion figure when measured."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from src import plotting
from src.conf import dataset_entry, experiment_settings
from src.figures.claims import claims_for
from src.figures.depth import depth_figure, depth_numbers
from src.figures.inputs import FigureInputs
from src.sensitivity import SensitivityResult
from src.sensitivity.maps import CONV, LOGITS, SOFTMAX
from src.sensitivity.metrics import PAPER_METRIC
from src.sensitivity.stats import shifts_per_radius

KEY = "radial"  # the JSON key holding this kind's numbers


def radial_numbers(results: dict[str, list[SensitivityResult]], layers: Sequence[str]) -> dict:
    """layer -> metric -> label -> one class-mean radial profile (list of R+1 floats) per seed."""
    first = next(res[0] for res in results.values() if res)
    return {
        layer: {
            m: {label: [r.radial_mean(layer, m).tolist() for r in res] for label, res in results.items()}
            for m in first.maps[layer]
        }  # every metric the results hold, by name
        for layer in layers
    }


def numbers(inputs: FigureInputs) -> dict:
    """{"radial": every measured layer's profiles, "claims"/"claims_logits": the tested claims, and "depth" when the
    figure has variants (their invariance through depth)."""
    labelled = inputs.labelled(inputs.results)
    first = next(res[0] for res in labelled.values() if res)
    out = {KEY: radial_numbers(labelled, first.layers)}  # every measured layer; drawn: conv, output, fc
    out |= claims_for(inputs.claims, out[KEY], inputs.output_layer, inputs.max_shift, inputs.metric)
    if inputs.depth:
        out["depth"] = depth_numbers(inputs.depth, inputs.max_shift)
    return out


def final_map_sizes(experiment: str, kernels: Sequence[int] = (3, 4, 5)) -> dict[str, str]:
    """{"k=5": "1x1", ...}: the last conv block's map size of an experiment's unpadded networks (Experiment 2), from
    its conf/experiment/ file: the dataset's image size plus its border; {} for padded networks (one size)."""
    from src.models.cnn import feature_map_sizes

    settings = experiment_settings(experiment)
    if settings["padding"] != "none":
        return {}
    side = dataset_entry(settings["dataset"])[0]["raw_size"] + 2 * settings["border"]
    return {f"k={k}": f"{(n := feature_map_sizes(side, k, 'none')[-1])}x{n}" for k in kernels}


def draw(numbers: dict, spec, fig_dir: Path, note: str, corner_radii: bool = True) -> list[Path]:
    """<name>.png/pdf: conv (radial_conv_output only) and output panels; <name>_depth when the JSON has depth
    numbers; <name>_logits when the logits were measured and are not the output point."""
    name, radial, max_shift = numbers["name"], numbers[KEY], numbers.get("max_shift", 10)
    output_point, metric = numbers.get("output_layer", SOFTMAX), numbers.get("metric", PAPER_METRIC)
    ylabel = f"{plotting.metric_label(metric)} (class mean)"
    layers = ([CONV] if spec.kind == "radial_conv_output" else []) + [output_point]
    letters = "ab" if len(layers) == 2 else ""
    sizes = final_map_sizes(spec.experiment)  # no padding: the label says the final map size (Experiment 2)

    def labelled(curves: dict) -> dict:
        return {f"{k} (final map {sizes[k]})" if k in sizes else k: v for k, v in curves.items()}

    panels = {
        f"{f'({letters[i]}) ' if letters else ''}{plotting.layer_title(layer)}": labelled(radial[layer][metric])
        for i, layer in enumerate(layers)
    }
    ns = sorted({len(seeds) for seeds in radial[layers[0]][metric].values()})
    n_text = f"n = {ns[0]} seeds" if len(ns) == 1 else f"n = {ns[0]}-{ns[-1]} seeds"
    fig = plotting.radial_panels(
        panels, max_shift, ylabel, title=f"{spec.title}; {n_text}, band: ±1 std", note=note, corner_radii=corner_radii
    )
    written = plotting.save_figure(fig, fig_dir / name)
    if "depth" in numbers:  # figures with variants also show their invariance through depth
        fig = depth_figure(numbers["depth"], max_shift, title=f"{spec.title}: through depth", note=note)
        written += plotting.save_figure(fig, fig_dir / f"{name}_depth")
    # the logits, for comparison (not the paper's measuring point)
    if LOGITS in radial and output_point != LOGITS:
        title = f"Not a figure of the paper: the logits of these networks\n{spec.title}; band: ±1 std over seeds"
        panel = {plotting.layer_title(LOGITS): labelled(radial[LOGITS][metric])}
        fig = plotting.radial_panels(panel, max_shift, ylabel, title=title, note=note, corner_radii=corner_radii)
        written += plotting.save_figure(fig, fig_dir / f"{name}_logits")
    return written


def radial_csv(radial: dict, max_shift: int) -> str:
    """Long-format CSV of radial profiles: layer, metric, label, seed_index, radius, shifts, full_ring, value."""
    counts = shifts_per_radius(max_shift)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", "metric", "label", "seed_index", "radius", "shifts", "full_ring", "value"])
    for layer, metrics in radial.items():
        for metric, labels in metrics.items():
            for label, seeds in labels.items():
                for i, prof in enumerate(seeds):
                    for r, v in enumerate(prof):
                        w.writerow([layer, metric, label, i, r, counts[r], int(r <= max_shift), f"{v:.6g}"])
    return buf.getvalue()
