"""The paper's figures as data: what each one measures (`FIGURES`), the numbers behind it (JSON), the claims it tests.

`figure_numbers` turns measured results into a plain dict (every seed's values, accuracies, claims with verdicts),
which `src.reproduce` writes to figures/figN.json; `draw` makes the PNG/PDF files from that dict alone, so a figure
can be redrawn from its JSON on a machine without the runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from src.errors import DataError
from src.files import atomic_write
from src.sensitivity import SensitivityResult, pearson
from src.sensitivity.stats import (
    ALPHA,
    equivalence_verdict,
    full_ring_mean,
    holm,
    mean_ci,
    paired_difference,
    seeds_needed,
    shifts_per_radius,
    two_sided_p,
    verdict,
)

STRONG_CORRELATION = 0.8  # |r| at or above this counts as "very strong" (the usual convention)
# "No effect" claims are equivalence tests: |mean cosine difference over r = 1..S| < this margin. Why 0.02: the seed
# spread (std over seeds) of one network's r = 1-10 mean cosine is 0.004-0.016 on MNIST (seeds3 Figs. 2 and 5), and
# the smallest difference the paper calls an effect that we resolve (conv, k=3 vs 4) is 0.028: a difference under
# 0.02 is inside one network's seed-to-seed variation, 4 % of the mean cosine (~0.55).
EQUIVALENCE_MARGIN = 0.02


@dataclass(frozen=True)
class Claim:
    """A statement of the paper tested as a paired difference over seeds of full-ring radial means (r = 1..S).

    a and b are (layer, label) pairs, where layer "output" is the figure's output point; direction +1 claims
    a > b (more similar, i.e. more invariant), -1 claims a < b, 0 claims no difference: an equivalence test with
    |difference| < margin (cosine units, mean over r = 1..S).
    """

    text: str
    a: tuple[str, str]
    b: tuple[str, str]
    direction: int = 1
    margin: float = EQUIVALENCE_MARGIN


@dataclass(frozen=True)
class FigureSpec:
    experiment: str
    kernels: list[int] | None  # None: the preset's kernels
    kind: str  # radial_conv_output | radial_output | correlation | feature_maps | extras | dimensionality
    title: str
    claims: list[Claim] = field(default_factory=list)
    variants: dict[str, list[str]] = field(
        default_factory=dict
    )  # name -> training overrides (one sweep each)


def _kernel_pairs(layer: str, text: str, direction: int, pairs: Sequence[tuple[int, int]]) -> list[Claim]:
    return [Claim(text.format(a=a, b=b), (layer, f"k={a}"), (layer, f"k={b}"), direction) for a, b in pairs]


LEVERS = {  # the levers the paper's related work names, one override each
    "baseline": [],
    "augmented": ["augment=translate"],  # random shifts of up to 4 px in training (Kauderer-Abrams)
    "anti-aliased": ["model.pool=blur"],  # max-pool stride 1 + blur stride 2 (Zhang 2019)
    "GAP head": ["model.head=gap"],  # global average pooling instead of FC 500
}
FC_ADDS = [Claim(f"k={k}: the FC layers add invariance (output > conv)", ("output", f"k={k}"), ("conv", f"k={k}"))
           for k in (3, 4, 5)]  # fmt: skip


def _levers_figure(experiment: str, title: str) -> FigureSpec:
    """The levers figure on one experiment: the k=5 network once per LEVERS variant, each claimed more invariant
    than the baseline at conv and at the output."""
    claims = [Claim(f"{v} > baseline at {la}", (la, v), (la, "baseline"))
              for v in LEVERS if v != "baseline" for la in ("conv", "output")]  # fmt: skip
    return FigureSpec(experiment, [5], "radial_conv_output", title, claims, variants=LEVERS)


FIGURES: dict[str, FigureSpec] = {
    "1": FigureSpec("exp1_mnist", [5], "correlation", "Fig. 1: MNIST, Table 1 k=5"),
    "2": FigureSpec(
        "exp1_mnist",
        None,
        "radial_conv_output",
        "Fig. 2: MNIST, zero padding (Table 1)",
        _kernel_pairs(
            "conv", "smaller kernels, less sensitive conv output: k={a} > k={b}", 1, [(3, 4), (4, 5), (3, 5)]
        )
        + _kernel_pairs(
            "output", "larger kernels, more invariant output: k={a} > k={b}", 1, [(5, 4), (4, 3), (5, 3)]
        )
        + FC_ADDS,
    ),  # fmt: skip
    "3": FigureSpec(
        "exp1_mnist", [5], "feature_maps", "Fig. 3: last conv block of the k=5 network (Table 1)"
    ),
    "4": FigureSpec(
        "exp1_cifar10",
        None,
        "radial_conv_output",
        "Fig. 4: CIFAR-10, zero padding (Table 2)",
        _kernel_pairs("conv", "smaller kernels, less sensitive conv output: k={a} > k={b}", 1, [(3, 5)])
        + _kernel_pairs(
            "output", "all kernels equally invariant at the output: k={a} = k={b}", 0, [(5, 3), (4, 3)]
        )
        + FC_ADDS,
    ),  # fmt: skip
    "5": FigureSpec(
        "exp2_mnist",
        None,
        "radial_output",
        "Fig. 5: MNIST, no padding (Table 3)",
        _kernel_pairs("output", "1x1 final map (k=5) less sensitive: k={a} > k={b}", 1, [(5, 4), (5, 3)])
        + _kernel_pairs("output", "otherwise no significant effect of map size: k={a} = k={b}", 0, [(4, 3)]),
    ),  # fmt: skip
    "6": FigureSpec(
        "exp2_cifar10",
        None,
        "radial_output",
        "Fig. 6: CIFAR-10, no padding (Table 4)",
        _kernel_pairs(
            "output", "little to no effect of map size: k={a} = k={b}", 0, [(5, 3), (4, 3), (5, 4)]
        ),
    ),  # fmt: skip
    # The paper's CIFAR-10 questions (Figs. 4 and 6) asked on Fashion-MNIST with the MNIST networks unchanged.
    "fashion4": FigureSpec(
        "exp1_fashion",
        None,
        "radial_conv_output",
        "Fashion-MNIST, zero padding (Table 1 networks; the paper's Fig. 4 questions)",
        _kernel_pairs(
            "conv", "smaller kernels, less sensitive conv output: k={a} > k={b}", 1, [(3, 4), (4, 5), (3, 5)]
        )
        + _kernel_pairs(
            "output",
            "all kernels equally invariant at the output: k={a} = k={b}",
            0,
            [(5, 3), (4, 3), (5, 4)],
        )
        + FC_ADDS,
    ),  # fmt: skip
    "fashion6": FigureSpec(
        "exp2_fashion",
        None,
        "radial_output",
        "Fashion-MNIST, no padding (Table 3 networks; the paper's Figs. 5 and 6 questions)",
        _kernel_pairs("output", "little to no effect of map size: k={a} = k={b}", 0, [(4, 3)])
        + _kernel_pairs("output", "1x1 final map (k=5) less sensitive: k={a} > k={b}", 1, [(5, 4), (5, 3)]),
    ),  # fmt: skip
    "extras": FigureSpec("exp1_mnist", [5], "extras", "MNIST, Table 1 k=5"),
    "fashion_extras": FigureSpec("exp1_fashion", [5], "extras", "Fashion-MNIST, Table 1 k=5"),
    "dims": FigureSpec("exp1_mnist", [5], "dimensionality", "§4.3.1: dimension changes both metrics"),
    "depth": FigureSpec("exp1_mnist", None, "depth", "Invariance through depth: MNIST, Table 1"),
    "levers": _levers_figure("exp1_mnist", "Beyond the paper: what makes the Table 1 k=5 network invariant"),
    # issue 18: does the ranking of the levers found on MNIST hold on a harder dataset?
    "fashion_levers": _levers_figure(
        "exp1_fashion", "Beyond the paper on Fashion-MNIST: what makes the Table 1 k=5 network invariant"
    ),
}
DEPTH_OUTPUT = "sensitivity_all.pt"  # the depth figure's maps: layers=all, beside the paper's sensitivity.pt


def final_map_sizes(experiment: str, kernels: Sequence[int] = (3, 4, 5)) -> dict[str, str]:
    """{"k=5": "1x1", ...}: the last conv block's map size of the no-padding networks (Experiment 2: exp2_*), from the
    dataset's image size plus the paper's 6-px border; {} for padded networks, whose maps keep one size."""
    from src.data.datamodule import DATASETS
    from src.models.cnn import feature_map_sizes

    if not experiment.startswith("exp2_"):
        return {}
    name = {"fashion": "fashion_mnist"}.get(
        experiment.removeprefix("exp2_"), experiment.removeprefix("exp2_")
    )
    side = DATASETS[name][0].raw_size + 2 * 6
    return {f"k={k}": f"{(n := feature_map_sizes(side, k, 'none')[-1])}x{n}" for k in kernels}


def depth_numbers(results: dict[str, list[SensitivityResult]], max_shift: int) -> dict:
    """label -> {"layers": [...], "mean_cosine": per seed, per layer (r = 1..S), "radius_below_half": per seed,
    per layer (the first radius whose class-mean cosine is below 0.5; null if none up to S)}."""
    out = {}
    for label, res in results.items():
        layers = res[0].layers
        means, halves = [], []
        for r in res:
            profiles = {layer: r.radial_mean(layer, "cosine") for layer in layers}
            means.append([full_ring_mean(profiles[la], max_shift) for la in layers])
            halves.append(
                [next((i for i in range(1, max_shift + 1) if profiles[la][i] < 0.5), None) for la in layers]
            )
        out[label] = {"layers": layers, "mean_cosine": means, "radius_below_half": halves}
    return out


def radial_numbers(results: dict[str, list[SensitivityResult]], layers: Sequence[str]) -> dict:
    """layer -> metric -> label -> one class-mean radial profile (list of R+1 floats) per seed."""
    first = next(res[0] for res in results.values() if res)
    return {
        layer: {m: {label: [r.radial_mean(layer, m).tolist() for r in res] for label, res in results.items()}
                for m in first.maps[layer]}  # every metric the results hold, by name
        for layer in layers
    }  # fmt: skip


def evaluate_claim(
    claim: Claim, radial: dict, output_layer: str, max_shift: int, metric: str = "cosine"
) -> dict:
    """The claim's paired difference (summary over r = 1..S and per radius, exploratory: no correction), its test
    (t interval, or TOST for "no difference" claims), its p-value for Holm (`holm_adjust`), and the seeds at which
    a claim with the observed mean and spread reaches 80 % power (alpha 0.05, unadjusted)."""

    def seeds(side: tuple[str, str]) -> list[list[float]]:
        layer = output_layer if side[0] == "output" else side[0]
        return radial[layer][metric][side[1]]

    a, b = seeds(claim.a), seeds(claim.b)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    diffs = [full_ring_mean(torch.tensor(x), max_shift) - full_ring_mean(torch.tensor(y), max_shift)
             for x, y in zip(a, b, strict=True)]  # fmt: skip
    summary = mean_ci(diffs)
    per_radius = [paired_difference([x[r] for x in a], [x[r] for x in b]) for r in range(1, max_shift + 1)]
    out = {"claim": claim.text, "a": list(claim.a), "b": list(claim.b), "direction": claim.direction,
           "metric": metric, "radii": [1, max_shift], "n": n, "difference": summary}  # fmt: skip
    if claim.direction == 0:  # "no difference": equivalence, not absence of evidence
        result, test = equivalence_verdict(diffs, claim.margin)
        out |= {"test": "TOST", "margin": claim.margin, "tost": test, "p": test["p"], "verdict": result}
        out["seeds_needed"] = seeds_needed(summary["mean"], summary["std"], claim.margin)
    else:
        p = two_sided_p(diffs)
        out |= {"test": "paired t", "p": p, "verdict": verdict(summary, claim.direction)}
        on_side = summary["mean"] * claim.direction > 0  # a mean against the claim resolves it the other way
        out["seeds_needed"] = seeds_needed(summary["mean"], summary["std"]) if on_side else None
    out["per_radius"] = [
        {"r": r + 1} | {k: ci[k] for k in ("mean", "low", "high")} for r, ci in enumerate(per_radius)
    ]
    out["per_radius_note"] = "exploratory: 95 % intervals per radius, no multiplicity correction"
    out["holds_at_radii"] = [r + 1 for r, ci in enumerate(per_radius)
                             if claim.direction and verdict(ci, claim.direction) == "holds"]  # fmt: skip
    out["fails_at_radii"] = [r + 1 for r, ci in enumerate(per_radius)
                             if claim.direction and verdict(ci, claim.direction) == "does not hold"]  # fmt: skip
    return out


def holm_adjust(claims: list[dict]) -> list[dict]:
    """The claims of one figure at one measuring point, each with `p_holm` (Holm across the family) and
    `verdict_holm`: directional claims hold (or not) only if their two-sided p survives Holm; equivalence claims
    are equivalent only if their TOST p does."""
    adjusted = holm([c.get("p") for c in claims])
    out = []
    for c, p in zip(claims, adjusted, strict=True):
        n = c.get("n", c["difference"]["n"])
        if p is None or p >= ALPHA:
            v = "different" if c["direction"] == 0 and c["verdict"] == "different" else f"unresolved at n={n}"
        elif c["direction"] == 0:
            v = "equivalent"
        else:
            on_side = c["difference"]["mean"] * c["direction"] > 0
            v = "holds" if on_side else "does not hold"
        out.append(c | {"p_holm": p, "verdict_holm": v})
    return out


def claims_for(spec: FigureSpec, radial: dict, output_layer: str, max_shift: int) -> dict:
    """{"claims": at the figure's output point, "claims_logits": the same at the logits (when measured and not
    the output point)}, each Holm-adjusted as one family. A pure function of the radial numbers, so a figure JSON
    can be re-scored without its runs (`redraw=true`)."""

    def family(at: str) -> list[dict]:
        measured = [c for c in spec.claims if all(side[1] in radial[at if side[0] == "output" else side[0]]["cosine"]
                                                  for side in (c.a, c.b))]  # fmt: skip
        skipped = [{"claim": c.text, "a": list(c.a), "b": list(c.b), "direction": c.direction, "skipped": True,
                    "verdict": "skipped: a network it compares was not in the preset"}
                   for c in spec.claims if c not in measured]  # fmt: skip
        return holm_adjust([evaluate_claim(c, radial, at, max_shift) for c in measured]) + skipped

    out = {"claims": family(output_layer)}
    if "fc" in radial and output_layer != "fc":  # the same claims at the logits, for comparison
        out["claims_logits"] = family("fc")
    return out


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
    class_means = {name: mean_ci([float(torch.tensor(v).nanmean()) for v in seeds])
                   for name, seeds in per_class.items()}  # fmt: skip
    claims = [
        {"claim": f"{name}: very strong positive correlation (class mean r >= {STRONG_CORRELATION})",
         "class_mean_r": ci,
         "verdict": verdict(ci if ci["low"] is None else
                            {**ci, "low": ci["low"] - STRONG_CORRELATION, "high": ci["high"] - STRONG_CORRELATION})}
        for name, ci in class_means.items()
    ]  # fmt: skip
    return {"layer": layer, "per_class": per_class, "claims": claims}


def accuracy_table(runs: dict[int, list[dict]]) -> dict:
    """kernel -> lr, seeds, epochs, and mean/std/95 % CI over seeds of the selected checkpoints' accuracies."""
    table = {}
    for k, rs in runs.items():
        row = {"lr": rs[0]["config"]["lr"], "seeds": [r["config"]["seed"] for r in rs],
               "epochs": [r["epochs"] for r in rs], "selected_epoch": [r["best_epoch"] for r in rs],
               "run_dirs": [r["run_dir"] for r in rs]}  # fmt: skip
        for key in ("train_acc", "train_acc_full", "val_acc", "test_acc"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if vals:
                row[key] = mean_ci(vals)
        table[k] = row
    return table


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


# What each kind of figure draws from its JSON (beside figure, name, max_shift): checked before a redraw.
KIND_KEYS = {"radial_conv_output": "radial", "radial_output": "radial", "correlation": "correlation",
             "feature_maps": "feature_maps", "extras": "class_maps", "depth": "depth",
             "dimensionality": "dimensionality"}  # fmt: skip


def check_numbers(numbers, path: Path, figure: str) -> None:
    """A figure JSON that can be drawn as `figure`, or a one-line DataError naming the file and what is wrong."""
    if not isinstance(numbers, dict) or not numbers:
        raise DataError(
            f"{path} is not a figure's numbers (a JSON object): rerun the figure without redraw=true"
        )
    if str(numbers.get("figure")) != figure:
        raise DataError(f"{path} holds figure {numbers.get('figure')!r}, not {figure!r}")
    key = KIND_KEYS[FIGURES[figure].kind]
    if not isinstance(numbers.get(key), dict | list) or not numbers[key]:
        raise DataError(f"{path} has no {key!r} numbers (got {numbers.get(key)!r}): rerun the figure")
    for k in ("name", "max_shift"):
        if k not in numbers:
            raise DataError(f"{path} lacks {k!r}: rerun the figure")


def save_figure(fig, path: Path) -> list[Path]:
    """PNG and PDF, each written atomically."""
    import matplotlib.pyplot as plt

    # no creation date in the PDF: a redraw of unchanged numbers leaves the files (and git) unchanged
    out = [atomic_write(path.with_suffix(f".{ext}"), lambda p, ext=ext: fig.savefig(
               p, format=ext, metadata={"CreationDate": None} if ext == "pdf" else None))
           for ext in ("png", "pdf")]  # fmt: skip
    plt.close(fig)
    return out


def draw(numbers: dict, fig_dir: Path, provenance: bool = True, corner_radii: bool = True) -> list[Path]:
    """Make the figure files of `numbers` (a figures/figN.json dict). Returns the files written."""
    from src import plotting

    name, spec = numbers["name"], FIGURES[numbers["figure"]]
    note = numbers["provenance"] if provenance else ""
    if numbers.get(
        "degenerate"
    ):  # never drawn silently: a constant response gives cosine 1 and measures nothing
        note = f"WARNING: constant response (degenerate) at {'; '.join(numbers['degenerate'])}" + (
            f"\n{note}" if note else ""
        )
    max_shift, output_point = numbers.get("max_shift", 10), numbers.get("output_layer", "softmax")
    written: list[Path] = []
    if spec.kind.startswith("radial"):
        radial = numbers["radial"]
        layers = (["conv"] if spec.kind == "radial_conv_output" else []) + [output_point]
        letters = "ab" if len(layers) == 2 else ""
        sizes = final_map_sizes(
            spec.experiment
        )  # no padding: the label says the final map size (Experiment 2)

        def labelled(curves: dict) -> dict:
            return {f"{k} (final map {sizes[k]})" if k in sizes else k: v for k, v in curves.items()}

        panels = {f"{f'({letters[i]}) ' if letters else ''}{plotting.layer_title(layer)}":
                  labelled(radial[layer]["cosine"]) for i, layer in enumerate(layers)}  # fmt: skip
        ns = sorted({len(seeds) for seeds in radial[layers[0]]["cosine"].values()})
        n_text = f"n = {ns[0]} seeds" if len(ns) == 1 else f"n = {ns[0]}-{ns[-1]} seeds"
        fig = plotting.radial_panels(panels, max_shift, title=f"{spec.title}; {n_text}, band: ±1 std", note=note,
                                     corner_radii=corner_radii)  # fmt: skip
        written += save_figure(fig, fig_dir / name)
        if "depth" in numbers:  # figures with variants also show their invariance through depth
            fig = plotting.depth_figure(
                numbers["depth"], max_shift, title=f"{spec.title}: through depth", note=note
            )
            written += save_figure(fig, fig_dir / f"{name}_depth")
        if (
            "fc" in radial and output_point != "fc"
        ):  # the logits, for comparison (not the paper's measuring point)
            fig = plotting.radial_panels({plotting.layer_title("fc"): labelled(radial["fc"]["cosine"])}, max_shift,
                                         title=f"Not a figure of the paper: the logits of these networks\n"
                                         f"{spec.title}; band: ±1 std over seeds", note=note,
                                         corner_radii=corner_radii)  # fmt: skip
            written += save_figure(fig, fig_dir / f"{name}_logits")
    elif spec.kind == "correlation":
        corr = numbers["correlation"]
        n = len(next(iter(corr["per_class"].values())))
        title = f"{spec.title}: per-class Pearson r at {corr['layer']} (mean ± 1 std over {n} seeds)"
        # "-distance" read as a hyphen: the legend says negated
        shown = {k.replace("-distance", "negated distance"): v for k, v in corr["per_class"].items()}
        written += save_figure(plotting.correlation_figure(shown, title, note), fig_dir / name)
    elif spec.kind == "feature_maps":
        fm = numbers["feature_maps"]
        fig = plotting.feature_map_figure(fm["image"], fm["shifted"], fm["maps"], fm["maps_shifted"], fm["shift"],
                                          title=spec.title, note=note)  # fmt: skip
        written += save_figure(fig, fig_dir / name)
    elif spec.kind == "extras":
        from src.wandb_log import cosine_range

        per_class = numbers.get("images_per_class") or []
        images = f", {per_class[0]} test images per class" if per_class and len(set(per_class)) == 1 else ""
        for layer, maps in numbers["class_maps"].items():
            fig = plotting.class_maps_figure(
                maps, max_shift, title=f"Per-class cosine maps, {plotting.layer_title(layer)}\n{spec.title}, "
                f"{numbers['class_maps_run']}{images}", note=note, class_names=numbers.get("class_names"),
                vrange=cosine_range(layer),  # one colour scale per measuring point: conv and softmax compare
            )  # fmt: skip
            written += save_figure(fig, fig_dir / f"class_maps_{layer}")
        ep = numbers["epochs"]
        subset = f"{ep['images']} validation images" if ep.get("images") else "fixed validation subset"
        for layer, profiles in ep["profiles"].items():
            fig = plotting.epochs_figure(
                profiles, ep["epochs"], max_shift, "cosine similarity (class mean)", note=note,
                title=f"{plotting.layer_title(layer)} over training\n{spec.title}, {numbers['class_maps_run']}, "
                f"{subset}", selected=ep.get("selected_epoch"),
            )  # fmt: skip
            written += save_figure(fig, fig_dir / f"epochs_{layer}")
    elif spec.kind == "depth":
        fig = plotting.depth_figure(
            numbers["depth"], max_shift, title=f"{spec.title}; bars: ±1 std over seeds", note=note
        )
        written += save_figure(fig, fig_dir / name)
    elif spec.kind == "dimensionality":
        for part, profiles in numbers["dimensionality"].items():
            fig = plotting.dimensionality_figure(
                profiles, max_shift, note=note, title=f"{spec.title}: {part}\nD = values per vector, reduced by average-"
                "pooling each channel to s x s (D = channels x s x s); same images, same shifts",
            )  # fmt: skip
            written += save_figure(fig, fig_dir / f"{name}_{part.split()[0]}")
    return written
