"""The straightforward computation: one image, one shift, one forward at a time.

Slow (about a tenth of the batched engine's throughput) but obviously right; tests compare the engine with it and
`make bench` times it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from src.sensitivity.maps import INPUT, PAPER_POINTS, SOFTMAX, capturing, measuring_points
from src.sensitivity.metrics import check_metrics, similarities
from src.sensitivity.shifts import Fill, shift_images


@torch.inference_mode()
def naive_translation_sensitivity(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    layers: Sequence[str] = PAPER_POINTS,
    num_classes: int = 10,
    max_shift: int = 10,
    fill_value: Fill = 0.0,
    metrics: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """{"<layer>/<metric>": (K, 2S+1, 2S+1), "accuracy": ..., "consistency": ...} as per-class means (float64);
    metrics: names of the METRICS table (None: all)."""
    layers, metrics = measuring_points(model, layers), check_metrics(metrics)

    def forward(x: torch.Tensor) -> torch.Tensor:
        captured[INPUT] = x.flatten(1)
        logits = model(x)
        captured[SOFTMAX] = logits.softmax(1)
        return logits

    side = 2 * max_shift + 1
    keys = [f"{n}/{m}" for n in layers for m in metrics] + ["accuracy", "consistency"]
    sums = {k: torch.zeros(num_classes, side, side, dtype=torch.float64) for k in keys}
    counts = torch.zeros(num_classes, dtype=torch.float64)
    with capturing(model, layers, flatten=True) as captured:
        for x, y in zip(images, labels, strict=True):
            x, c = x[None], int(y)
            base_pred = forward(x).argmax(1)
            base = dict(captured)
            counts[c] += 1
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    pred = forward(shift_images(x, dx, dy, fill_value)).argmax(1)
                    at = (c, dy + max_shift, dx + max_shift)
                    for n in layers:
                        for m, v in zip(metrics, similarities(base[n], captured[n], metrics), strict=True):
                            sums[f"{n}/{m}"][at] += float(v)
                    sums["accuracy"][at] += float(pred == c)
                    sums["consistency"][at] += float(pred == base_pred)
    return {k: v / counts.clamp_min(1)[:, None, None] for k, v in sums.items()}
