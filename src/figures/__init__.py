"""The paper's figures as data: what each one measures (`FIGURES`), how each kind of figure computes and draws its
numbers (`KINDS`, one module per kind in this package), and the checks of a figure JSON before a redraw.

A kind's `numbers(FigureInputs)` turns measured results into a plain dict (every seed's values, claims with
verdicts), which `src.reproduce` writes to figures/<name>.json; its `draw` makes the PNG/PDF files from that dict
alone, so a figure can be redrawn from its JSON on a machine without the runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from src.errors import DataError
from src.figures import correlation, depth, dimensionality, extras, feature_maps, radial
from src.figures.claims import OUTPUT, Claim, kernel_pairs
from src.figures.inputs import FigureInputs
from src.sensitivity.maps import CONV
from src.sensitivity.stats import mean_ci


@dataclass(frozen=True)
class Kind:
    """One kind of figure: the JSON key of its numbers, what it needs measured, and its two functions."""

    key: str  # the JSON key holding its numbers (checked before a redraw)
    # "paper": each selected run's sensitivity.pt; "all": every stage (depth.OUTPUT); None: its own
    maps: str | None
    numbers: Callable[[FigureInputs], dict]
    draw: Callable[..., list[Path]]  # (numbers, spec, fig_dir, note, corner_radii) -> files written


KINDS: dict[str, Kind] = {
    "radial_conv_output": Kind(radial.KEY, "paper", radial.numbers, radial.draw),  # (a) conv, (b) output
    "radial_output": Kind(radial.KEY, "paper", radial.numbers, radial.draw),  # the output point only
    "correlation": Kind(correlation.KEY, "paper", correlation.numbers, correlation.draw),
    "feature_maps": Kind(feature_maps.KEY, None, feature_maps.numbers, feature_maps.draw),
    "extras": Kind(extras.KEY, "paper", extras.numbers, extras.draw),
    "dimensionality": Kind(dimensionality.KEY, None, dimensionality.numbers, dimensionality.draw),
    "depth": Kind(depth.KEY, "all", depth.numbers, depth.draw),
}


@dataclass(frozen=True)
class FigureSpec:
    experiment: str
    kernels: list[int] | None  # None: the preset's kernels
    kind: str  # a key of KINDS
    title: str
    claims: list[Claim] = field(default_factory=list)
    # name -> training overrides (one sweep each)
    variants: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"FigureSpec kind={self.kind!r} is not one of {list(KINDS)}")


LEVERS = {  # the levers the paper's related work names, one override each
    "baseline": [],
    "augmented": ["augment=translate"],  # random shifts of up to 4 px in training (Kauderer-Abrams)
    "anti-aliased": ["model.pool=blur"],  # max-pool stride 1 + blur stride 2 (Zhang 2019)
    "GAP head": ["model.head=gap"],  # global average pooling instead of FC 500
}
FC_ADDS = [
    Claim(f"k={k}: the FC layers add invariance (output > conv)", (OUTPUT, f"k={k}"), (CONV, f"k={k}"))
    for k in (3, 4, 5)
]
# fmt: off
# The paper's statements: (point, text, direction), each tested on kernel pairs (a, b) by `pairs`
STATEMENTS = {
    "conv: smaller kernel": (CONV, "smaller kernels, less sensitive conv output: k={a} > k={b}", 1),
    "output: larger kernel": (OUTPUT, "larger kernels, more invariant output: k={a} > k={b}", 1),
    "output: all equal": (OUTPUT, "all kernels equally invariant at the output: k={a} = k={b}", 0),
    "output: 1x1 map": (OUTPUT, "1x1 final map (k=5) less sensitive: k={a} > k={b}", 1),
    "output: otherwise no map size": (OUTPUT, "otherwise no significant effect of map size: k={a} = k={b}", 0),
    "output: no map size": (OUTPUT, "little to no effect of map size: k={a} = k={b}", 0),
}
# fmt: on


def pairs(statement: str, kernel_pairs_: list[tuple[int, int]]) -> list[Claim]:
    """The claims of one of STATEMENTS, one per kernel pair (a, b)."""
    return kernel_pairs(*STATEMENTS[statement], kernel_pairs_)


def _levers_figure(experiment: str, title: str) -> FigureSpec:
    """The levers figure on one experiment: the k=5 network once per LEVERS variant, each claimed more invariant
    than the baseline at conv and at the output."""
    variants = [v for v in LEVERS if v != "baseline"]
    claims = [Claim(f"{v} > baseline at {at}", (at, v), (at, "baseline")) for v in variants for at in (CONV, OUTPUT)]
    return FigureSpec(experiment, [5], "radial_conv_output", title, claims, variants=LEVERS)


ALL_PAIRS = [(3, 4), (4, 5), (3, 5)]
# fmt: off
FIGURES: dict[str, FigureSpec] = {
    "1": FigureSpec("exp1_mnist", [5], "correlation", "Fig. 1: MNIST, Table 1 k=5"),
    "2": FigureSpec("exp1_mnist", None, "radial_conv_output", "Fig. 2: MNIST, zero padding (Table 1)",
                    pairs("conv: smaller kernel", ALL_PAIRS)
                    + pairs("output: larger kernel", [(5, 4), (4, 3), (5, 3)]) + FC_ADDS),
    "3": FigureSpec("exp1_mnist", [5], "feature_maps", "Fig. 3: last conv block of the k=5 network (Table 1)"),
    "4": FigureSpec("exp1_cifar10", None, "radial_conv_output", "Fig. 4: CIFAR-10, zero padding (Table 2)",
                    pairs("conv: smaller kernel", [(3, 5)]) + pairs("output: all equal", [(5, 3), (4, 3)]) + FC_ADDS),
    "5": FigureSpec("exp2_mnist", None, "radial_output", "Fig. 5: MNIST, no padding (Table 3)",
                    pairs("output: 1x1 map", [(5, 4), (5, 3)]) + pairs("output: otherwise no map size", [(4, 3)])),
    "6": FigureSpec("exp2_cifar10", None, "radial_output", "Fig. 6: CIFAR-10, no padding (Table 4)",
                    pairs("output: no map size", [(5, 3), (4, 3), (5, 4)])),
    # The paper's CIFAR-10 questions (Figs. 4 and 6) asked on Fashion-MNIST with the MNIST networks unchanged.
    "fashion4": FigureSpec("exp1_fashion", None, "radial_conv_output",
                           "Fashion-MNIST, zero padding (Table 1 networks; the paper's Fig. 4 questions)",
                           pairs("conv: smaller kernel", ALL_PAIRS)
                           + pairs("output: all equal", [(5, 3), (4, 3), (5, 4)]) + FC_ADDS),
    "fashion6": FigureSpec("exp2_fashion", None, "radial_output",
                           "Fashion-MNIST, no padding (Table 3 networks; the paper's Figs. 5 and 6 questions)",
                           pairs("output: no map size", [(4, 3)]) + pairs("output: 1x1 map", [(5, 4), (5, 3)])),
    "extras": FigureSpec("exp1_mnist", [5], "extras", "MNIST, Table 1 k=5"),
    "fashion_extras": FigureSpec("exp1_fashion", [5], "extras", "Fashion-MNIST, Table 1 k=5"),
    "dims": FigureSpec("exp1_mnist", [5], "dimensionality", "§4.3.1: dimension changes both metrics"),
    "depth": FigureSpec("exp1_mnist", None, "depth", "Invariance through depth: MNIST, Table 1"),
    "levers": _levers_figure("exp1_mnist", "Beyond the paper: what makes the Table 1 k=5 network invariant"),
    # issue 18: does the ranking of the levers found on MNIST hold on a harder dataset?
    "fashion_levers": _levers_figure("exp1_fashion",
                                     "Beyond the paper on Fashion-MNIST: what makes the Table 1 k=5 network invariant"),
}
# fmt: on


def accuracy_table(runs: dict[int, list[dict]]) -> dict:
    """kernel -> lr, seeds, epochs, and mean/std/95 % CI over seeds of the selected checkpoints' accuracies."""
    table = {}
    for k, rs in runs.items():
        row = {"lr": rs[0]["config"]["lr"], "seeds": [r["config"]["seed"] for r in rs]}
        row |= {key: [r[key] for r in rs] for key in ("epochs", "selected_epoch")}
        row["run_dirs"] = [r["run_dir"] for r in rs]
        for key in ("train_acc", "train_acc_full", "val_acc", "test_acc"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if vals:
                row[key] = mean_ci(vals)
        table[k] = row
    return table


def check_numbers(numbers, path: Path, figure: str) -> None:
    """A figure JSON that can be drawn as `figure`, or a one-line DataError naming the file and what is wrong."""
    if not isinstance(numbers, dict) or not numbers:
        raise DataError(f"{path} is not a figure's numbers (a JSON object): rerun the figure without redraw=true")
    if str(numbers.get("figure")) != figure:
        raise DataError(f"{path} holds figure {numbers.get('figure')!r}, not {figure!r}")
    key = KINDS[FIGURES[figure].kind].key
    if not isinstance(numbers.get(key), dict | list) or not numbers[key]:
        raise DataError(f"{path} has no {key!r} numbers (got {numbers.get(key)!r}): rerun the figure")
    for k in ("name", "max_shift"):
        if k not in numbers:
            raise DataError(f"{path} lacks {k!r}: rerun the figure")


def draw(numbers: dict, fig_dir: Path, provenance: bool = True, corner_radii: bool = True) -> list[Path]:
    """Make the figure files of `numbers` (a figures/<name>.json dict) with its kind's drawing. Returns the files."""
    spec = FIGURES[numbers["figure"]]
    note = numbers["provenance"] if provenance else ""
    # never drawn silently: a constant response gives cosine 1 and measures nothing
    if numbers.get("degenerate"):
        note = f"WARNING: constant response (degenerate) at {'; '.join(numbers['degenerate'])}" + (
            f"\n{note}" if note else ""
        )
    return KINDS[spec.kind].draw(numbers, spec, fig_dir, note, corner_radii)
