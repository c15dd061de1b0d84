"""Translation-sensitivity maps of any image model, computed in large batches.

For every image x and shift (dx, dy) in [-S, S]^2 the model sees shift(x); forward hooks read the named layers'
outputs a = L(x) and b = L(shift(x)); similarities (cosine, euclidean, distance) and the decisions (accuracy,
consistency) are averaged per class into maps of shape (classes, 2S+1, 2S+1), indexed [c, dy + S, dx + S].

Speed: the images are padded once and every shift is a strided window of that copy (`shifted_windows`); chunks of
`batch_size` shifted images go through the network in one forward, which feeds all layers at once; the per-class
sums stay on the model's device in a torchmetrics `Metric` with sum reduction, so sharded evaluation over several
processes reduces exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from src.errors import ConfigError, DataError
from src.files import load_torch, save_torch
from src.sensitivity.metrics import DECISIONS, check_metrics, similarities
from src.sensitivity.radial import radial_profile
from src.sensitivity.shifts import Fill, check_max_shift, shifted_windows

FORMAT_VERSION = 1
# Not a module: the model's output probabilities, softmax(logits). The paper's "output of the final fully connected
# layer" is the `Out` row of its Tables 1-4, whose activation is Softmax; `fc` (the logits) is a different point.
SOFTMAX = "softmax"
INPUT = "input"  # not a module either: the (shifted) image itself, the start of `layers="all"`
# Modules the paper's figures read by name; every registered model has them (src/models/points.py, tested per model)
CONV = "conv"  # the last conv block, after its pool: the paper's "final convolutional layer"
LOGITS = "fc"  # the final FC layer's output, before the softmax (not a point of the paper)
PAPER_POINTS = (CONV, SOFTMAX)
# The engine's own points, in every model: name -> what a figure calls it (src/models/points.py titles them from here)
POINTS = {INPUT: "network input (padded image)", SOFTMAX: "network output (softmax of the final FC layer)"}
_NOT_A_STAGE = (nn.ReLU, nn.Flatten, nn.Identity, nn.Dropout)


def measuring_points(model: nn.Module, layers: Sequence[str] | str) -> list[str]:
    """`layers` as a list; "all" (or ["all"]) means every stage from input to softmax: "input", then the model's
    `depth_points` (a registered model's points, src/models/points.py), else its top-level children except bare
    activations, flattens, identities and dropouts, then "softmax"."""
    if isinstance(layers, str):
        layers = [layers]
    if list(layers) != ["all"]:
        return list(layers)
    stages = getattr(model, "depth_points", None) or [
        name for name, m in model.named_children() if not isinstance(m, _NOT_A_STAGE)
    ]
    return [INPUT, *stages, SOFTMAX]


@contextlib.contextmanager
def capturing(model: nn.Module, layers: Sequence[str], flatten: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block: the model in eval mode, and a forward hook on each named module of `layers` (the INPUT and
    SOFTMAX points are the caller's) writing its output, (N, D) if `flatten`, into the yielded dict {layer: output}
    (flattened at once, as the next module may run in place on a view). Afterwards the hooks
    are removed and the model's train/eval mode is restored, whatever happened. Shared by the engine, the reference
    loop and Fig. 3."""
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def store(_module, _inputs, out):
            captured[name] = out.flatten(1) if flatten else out

        return store

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers if n not in POINTS]
    was_training = model.training
    model.eval()
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


class PointOutput(nn.Module):
    """`model`'s output at the measuring point `layer` as this module's output: the whole model runs and a hook
    reads the point, so code that needs "the network up to conv" names the point instead of the network's
    attributes (any model whose registry has the point works)."""

    def __init__(self, model: nn.Module, layer: str) -> None:
        super().__init__()
        check_layers(model, [layer], key="layer")
        self.model, self.layer = model, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with capturing(self.model, [self.layer]) as out:
            self.model(x)
        return out[self.layer]


def check_layers(model: nn.Module, layers: Sequence[str] | str, key: str = "layers") -> list[str]:
    """measuring_points(model, layers), or a one-line ConfigError naming `key` when a name is not a point of the
    model: run before any training or measuring, so a typo costs milliseconds, not an epoch."""
    layers = measuring_points(model, layers)
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules and name not in POINTS]
    if missing:
        points = measuring_points(model, "all")  # the model's registered points first, then its other modules
        named = [*points, *(n for n in modules if n and n not in points)]
        raise ConfigError(f"{key}={missing} not found in the model: available {named[:20]}")
    return layers


class SensitivitySums(Metric):
    """Per-class, per-shift sums of metric values and sample counts; `compute()` gives the mean maps.

    States: `sums` (M, K, P) float64 and `counts` (K, P) float64, with M metric rows, K classes and P = (2S+1)^2
    shifts; both reduce by summation across processes.
    """

    full_state_update = False

    def __init__(self, num_rows: int, num_classes: int, num_shifts: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("sums", torch.zeros(num_rows, num_classes, num_shifts, dtype=torch.float64), "sum")
        self.add_state("counts", torch.zeros(num_classes, num_shifts, dtype=torch.float64), "sum")

    def update(self, values: torch.Tensor, labels: torch.Tensor, shift_index: torch.Tensor) -> None:
        """values (M, n) for n (image, shift) pairs with class `labels` (n,) and flat shift index (n,)."""
        _, k, p = self.sums.shape
        cell = labels.long() * p + shift_index.long()
        self.sums.view(len(self.sums), k * p).index_add_(1, cell, values.to(torch.float64))
        self.counts.view(k * p).index_add_(0, cell, torch.ones_like(cell, dtype=torch.float64))

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means (M, K, P) with NaN for classes without samples, counts (K, P))."""
        return self.sums / self.counts.where(self.counts > 0, torch.nan), self.counts


@dataclass
class SensitivityResult:
    """Translation-sensitivity maps of one model.

    maps[layer][metric]: (K, 2S+1, 2S+1) for metric in cosine, euclidean, distance; `accuracy` and `consistency`
    (K, 2S+1, 2S+1); `counts` (K,) images per class; all float64 on the CPU. Index [c, dy + S, dx + S].
    """

    maps: dict[str, dict[str, torch.Tensor]]
    accuracy: torch.Tensor
    consistency: torch.Tensor
    counts: torch.Tensor
    max_shift: int
    meta: dict = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        return list(self.maps)

    def get(self, layer: str | None, metric: str) -> torch.Tensor:
        """The (K, 2S+1, 2S+1) maps of `metric` at `layer` (layer is ignored for accuracy and consistency)."""
        if metric in DECISIONS:
            return getattr(self, metric)
        if layer not in self.maps or metric not in self.maps[layer]:
            raise KeyError(
                f"no map for layer={layer!r} metric={metric!r}: layers {self.layers}, metrics "
                f"{list(self.maps.get(layer, next(iter(self.maps.values()), {})))}"
            )
        return self.maps[layer][metric]

    def class_mean(self, layer: str | None, metric: str) -> torch.Tensor:
        """(2S+1, 2S+1): the mean of the per-class maps over the classes that have samples."""
        m = self.get(layer, metric)
        return m[self.counts > 0].mean(0)

    def radial(self, layer: str | None, metric: str) -> torch.Tensor:
        """(K, R+1) per-class radial profiles."""
        return radial_profile(self.get(layer, metric))

    def radial_mean(self, layer: str | None, metric: str) -> torch.Tensor:
        """(R+1,) the paper's curve: the mean over classes of the per-class radial profiles."""
        return self.radial(layer, metric)[self.counts > 0].mean(0)

    def degenerate_layers(self, tolerance: float = 1e-7) -> list[str]:
        """Layers whose response does not change at any shift of any image (raw distance 0 everywhere): a
        collapsed network (constant output) gives cosine exactly 1, which is no measurement of invariance.
        Raises DataError when any map is non-finite (NaN weights or an overflow): such maps are never drawn."""
        live = self.counts > 0
        for layer, metrics in self.maps.items():
            for metric, m in metrics.items():
                if not torch.isfinite(m[live]).all():
                    raise DataError(f"the {metric} maps at {layer} are not finite (NaN or infinite outputs)")
        largest = {layer: float(m["distance"][live].abs().max()) for layer, m in self.maps.items() if "distance" in m}
        return [layer for layer, distance in largest.items() if distance <= tolerance]

    def save(self, path: str | Path) -> Path:
        """Write atomically (torch format, plain tensors and dicts)."""
        return save_torch(path, {"format_version": FORMAT_VERSION} | self.__dict__)

    @classmethod
    def load(cls, path: str | Path) -> SensitivityResult:
        """Read a file written by `save`; a damaged or foreign file raises DataError naming it."""
        data = load_torch(path)
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{path} is not a sensitivity result (format version {FORMAT_VERSION})")
        data.pop("format_version")
        return cls(**data)


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _batches(images, labels) -> Iterable:
    """[(images, labels)] for tensors; any iterable of (images, labels) batches (a DataLoader, a list) as it is."""
    if isinstance(images, torch.Tensor):
        if labels is None or len(labels) != len(images):
            raise ValueError("labels (N,) must accompany images (N, C, H, W)")
        return [(images, labels)]
    return images


def translation_sensitivity(
    model: nn.Module,
    images: torch.Tensor | Iterable,
    labels: torch.Tensor | None = None,
    layers: Sequence[str] = PAPER_POINTS,
    num_classes: int = 10,
    max_shift: int = 10,
    fill_value: Fill = 0.0,
    batch_size: int = 256,
    channels_last: bool = True,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    metrics: Sequence[str] | None = None,
) -> SensitivityResult:
    """Translation-sensitivity maps of `model` at `layers`.

    Args:
        model: any module mapping images (N, C, H, W) to logits (N, num_classes); it is used in eval mode and
            left as found (mode, hooks), on its own device.
        images: (N, C, H, W) images, already padded, with `labels` (N,); or an iterable of (images, labels).
        layers: names from `model.named_modules()` whose outputs are compared, "softmax" for the model's output
            probabilities (the paper's points are "conv" and "softmax"; "fc" is the logits), "input" for the
            image itself, or "all": every stage from input to softmax (`measuring_points`).
        max_shift: S; shifts cover [-S, S]^2, pixels.
        fill_value: value of vacated pixels (the dataset's padding value), a float or one per channel.
        batch_size: shifted images per forward pass.
        channels_last: feed NHWC tensors (faster convolutions on CPU and GPU; results agree to float tolerance).
        autocast_dtype: e.g. torch.bfloat16 to run the forward under autocast; metrics stay float32.
        progress: show a progress bar over input batches.
        metrics: names of the METRICS table to compute (None: all); only these are computed and stored.
    """
    layers, metrics = measuring_points(model, layers), check_metrics(metrics)
    sums = new_sums(layers, num_classes, max_shift, metrics)
    data = _batches(images, labels)
    accumulate_sensitivity(
        model, data, sums, layers, max_shift, fill_value, batch_size, channels_last, autocast_dtype, progress, metrics
    )
    return sensitivity_result(
        sums, layers, max_shift, {"fill_value": fill_value, "autocast_dtype": str(autocast_dtype)}, metrics
    )


def new_sums(
    layers: Sequence[str], num_classes: int, max_shift: int, metrics: Sequence[str] | None = None
) -> SensitivitySums:
    """An empty accumulator for `layers` x `metrics` (None: every metric) plus accuracy and consistency."""
    return SensitivitySums(
        len(layers) * len(check_metrics(metrics)) + len(DECISIONS), num_classes, (2 * max_shift + 1) ** 2
    )


def accumulate_sensitivity(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    sums: SensitivitySums,
    layers: Sequence[str] = PAPER_POINTS,
    max_shift: int = 10,
    fill_value: Fill = 0.0,
    batch_size: int = 256,
    channels_last: bool = True,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    metrics: Sequence[str] | None = None,
) -> None:
    """Add every (image, shift) pair of `batches` into `sums` (no cross-process sync: shards call this alone)."""
    device = _model_device(model)
    layers, metrics = check_layers(model, layers), check_metrics(metrics)
    sums.to(device)
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with contextlib.ExitStack() as stack:  # on exit: hooks off, train/eval mode and weight layout restored
        captured = stack.enter_context(capturing(model, layers, flatten=True))
        if channels_last:
            stack.enter_context(nhwc_weights(model))

        def forward(x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
            if INPUT in layers:
                captured[INPUT] = x.flatten(1)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with amp:
                logits = model(x)
            if SOFTMAX in layers:
                captured[SOFTMAX] = logits.float().softmax(dim=1)
            return {k: v.float() for k, v in captured.items()}, logits.argmax(dim=1)

        bar = stack.enter_context(_progress_bar(batches, max_shift)) if progress else None
        with torch.inference_mode():
            for x, y in batches:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                check_max_shift(max_shift, x.shape[-2], x.shape[-1])
                _accumulate(forward, sums, x, y, layers, max_shift, fill_value, batch_size, metrics)
                if bar is not None:
                    bar.update(len(y))


@contextlib.contextmanager
def nhwc_weights(model: nn.Module) -> Iterator[None]:
    """NHWC weights as well as inputs inside the block: with one input channel an NHWC input is the NCHW one, and
    the convolutions only take the fast NHWC path when the weights are NHWC too (1.6x on the 2-core CPU, make
    bench). The original tensors are put back afterwards, so the model is left as found (and an optimiser's state
    with it)."""
    originals = {}
    try:
        for p in model.parameters():
            # every one: a (out, 1, k, k) weight counts as NHWC already but keeps NCHW strides
            if p.dim() == 4:
                originals[p] = p.data
                p.data = torch.empty_like(p.data, memory_format=torch.channels_last).copy_(p.data)
        yield
    finally:
        for p, data in originals.items():
            p.data = data


@contextlib.contextmanager
def _progress_bar(batches: Iterable, max_shift: int) -> Iterator[Any]:
    """A tqdm bar counting images (its total known when `batches` is a list or tuple)."""
    from tqdm.auto import tqdm

    total = sum(len(y) for _, y in batches) if isinstance(batches, list | tuple) else None
    bar = tqdm(total=total, desc=f"translation sensitivity ({(2 * max_shift + 1) ** 2} shifts)", unit="image")
    try:
        yield bar
    finally:
        bar.close()


def sensitivity_result(
    sums: SensitivitySums,
    layers: Sequence[str],
    max_shift: int,
    meta: dict | None = None,
    metrics: Sequence[str] | None = None,
) -> SensitivityResult:
    """The maps held by `sums` (made by new_sums with the same layers and metrics); under torch.distributed every
    process must call this (it syncs the sums)."""
    metrics = check_metrics(metrics)
    means, counts = sums.compute()
    rows, num_classes, num_shifts = means.shape
    side = 2 * max_shift + 1
    means, counts = means.cpu().view(rows, num_classes, side, side), counts.cpu()
    maps, i = {}, 0
    for name in layers:
        maps[name] = {metric: means[i + j] for j, metric in enumerate(metrics)}
        i += len(metrics)
    return SensitivityResult(
        maps=maps,
        accuracy=means[i],
        consistency=means[i + 1],
        counts=counts[:, num_shifts // 2].round().long(),
        max_shift=max_shift,
        meta={"layers": list(layers)} | (meta or {}),
    )


def _accumulate(forward, sums, x, y, layers, max_shift, fill_value, batch_size, metrics=None) -> None:
    """Add the metric values of every (image, shift) pair of the batch x (B, C, H, W), y (B,) to `sums`."""
    b = len(x)
    side = 2 * max_shift + 1
    num_shifts = side * side
    base_acts, base_pred = {name: [] for name in layers}, []
    for start in range(0, b, batch_size):  # the unshifted responses, chunked like the shifted ones
        acts, pred = forward(x[start : start + batch_size])
        for name in layers:
            base_acts[name].append(acts[name])
        base_pred.append(pred)
    base = {name: torch.cat(v) for name, v in base_acts.items()}
    base_pred = torch.cat(base_pred)

    windows = shifted_windows(x, max_shift, fill_value)  # (B, C, side, side, H, W) view, no copy
    for start in range(0, b * num_shifts, batch_size):
        pair = torch.arange(start, min(start + batch_size, b * num_shifts), device=x.device)
        n, p = pair // num_shifts, pair % num_shifts
        # shift index p = (dy + S) * side + (dx + S); window (i, j) = (S - dy, S - dx)
        i, j = side - 1 - p // side, side - 1 - p % side
        acts, pred = forward(windows[n, :, i, j])  # (chunk, C, H, W) gathered copy
        values = [similarities(base[name][n], acts[name], metrics) for name in layers]
        values.append(torch.stack([(pred == y[n]).double(), (pred == base_pred[n]).double()]))
        sums.update(torch.cat([v.double() for v in values]), y[n], p)
