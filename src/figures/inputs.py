"""What every figure kind computes its numbers from (`FigureInputs`), built by `src.reproduce` after selection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from src.sensitivity.metrics import PAPER_METRIC


@dataclass(frozen=True)
class FigureInputs:
    """The selected networks of one figure and how to read them.

    runs: kernel (int) or variant name -> the selected runs (dicts of `src.runs`), sorted by seed.
    results: the same keys -> their SensitivityResults (empty for kinds that measure for themselves).
    output_layer: the figure's output point ("softmax", the paper's; or "fc"). max_shift: S, pixels.
    metric: the similarity radial figures draw and test claims on (cosine, the paper's main one).
    images_per_class: test images per class of the preset (None: the full test set).
    """

    runs: dict
    results: dict
    output_layer: str
    max_shift: int
    images_per_class: int | None = None
    claims: Sequence[Any] = ()
    variants: bool = False
    metric: str = PAPER_METRIC  # what radial figures draw and their claims test (a name of the METRICS table)
    depth: dict | None = field(default=None)  # variant -> results at every stage (figures with variants)

    def label(self, key) -> str:
        """A network's name in the figure: its variant, or "k=<kernel>"."""
        return str(key) if self.variants else f"k={key}"

    def labelled(self, by_key: dict) -> dict:
        return {self.label(k): v for k, v in by_key.items()}

    @property
    def single_run(self) -> dict:
        """The one network of a single-network figure (Figs. 1 and 3, extras, dims): its first selected run."""
        return next(iter(self.runs.values()))[0]

    @property
    def single_result(self):
        return next(iter(self.results.values()))[0]
