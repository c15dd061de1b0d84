"""Everything this project sends to W&B, built in one place for the epoch-end callback (validation subset, every
epoch) and for `src.evaluate` (test set, once), plus the offline-run bookkeeping that keeps continuations syncable.

Per run, W&B gets:
- `radial_<split>`: one long-format `wandb.Table` (columns `RADIAL_COLUMNS`) of every class-mean radial profile,
  so the W&B UI alone overlays the kernels, paddings or levers of a sweep (group by `kernel`, filter `layer`);
- `sens_radial/<layer>/<metric>`: one line chart per profile with every epoch overlaid;
- `sens_maps/<layer>` (`test_maps/<layer>`): the class-mean cosine map on a fixed scale per measuring point, with a
  colour bar, so images of different epochs and runs compare.

Offline continuations: a resumed training writes a new offline folder with the same run id (an evaluation is a W&B
run of its own). W&B syncs several folders of one run in order of start time (`wandb sync` on all of them at once,
wandb >= 0.20), appending each to the run, which keeps data only when each folder's steps continue the previous ones.
So every training log carries an explicit step, the trainer's global step, continued past the last step any earlier
folder of the run recorded (`next_step`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from src.errors import DataError
from src.sensitivity import SensitivityResult
from src.sensitivity.maps import LOGITS
from src.sensitivity.metrics import PAPER_METRIC, shown_metrics
from src.wandb_adapter import read_records

RADIAL_COLUMNS = ("run", "dataset", "padding", "kernel", "seed", "split", "epoch", "layer", "metric", "radius", "value")
# One colour scale per measuring point for cosine maps: outputs after a ReLU or a softmax are non-negative, so their
# cosines lie in [0, 1]; logits (fc) point anywhere, so theirs lie in [-1, 1].
COSINE_RANGE: dict[str, tuple[float, float]] = {LOGITS: (-1.0, 1.0)}
ACCURACY = "accuracy"  # the profile of the shifted images' accuracy, keyed without a layer


def cosine_range(layer: str) -> tuple[float, float]:
    """The fixed (low, high) colour range of a cosine map at `layer`."""
    return COSINE_RANGE.get(layer, (0.0, 1.0))


def profiles(result: SensitivityResult) -> dict[str, list[float]]:
    """Class-mean radial profiles (R + 1 floats, radius 0..R px): "<layer>/<metric>" for shown_metrics(), and
    "accuracy" (the shifted images' accuracy)."""
    out = {
        f"{layer}/{m}": result.radial_mean(layer, m).tolist()
        for layer in result.layers
        for m in shown_metrics()
        if m in result.maps[layer]
    }
    return out | {ACCURACY: result.radial_mean(None, ACCURACY).tolist()}


def run_keys(config: Mapping) -> dict:
    """The columns that tell runs apart in a sweep, from a run's resolved config."""
    return {
        "run": config.get("run_name"),
        "dataset": (config.get("dataset") or {}).get("name"),
        "padding": config.get("padding"),
        "kernel": config.get("kernel"),
        "seed": config.get("seed"),
    }


def radial_rows(curves: Mapping[str, Sequence[float]], keys: Mapping, split: str, epoch: int | None) -> list[list]:
    """Long-format rows (RADIAL_COLUMNS) of one epoch's profiles; the accuracy profile has layer "output"."""
    rows = []
    for name, profile in curves.items():
        layer, metric = name.split("/") if "/" in name else ("output", name)
        head = [keys.get(c) for c in RADIAL_COLUMNS[:5]] + [split, epoch, layer, metric]
        rows += [head + [r, round(float(v), 6)] for r, v in enumerate(profile)]
    return rows


def radial_table(rows: list[list]):
    """A wandb.Table of RADIAL_COLUMNS rows."""
    import wandb

    return wandb.Table(columns=list(RADIAL_COLUMNS), data=rows)


def radial_charts(curves_by_label: Mapping[str, Mapping[str, Sequence[float]]], prefix: str) -> dict:
    """One W&B line chart per profile, every label (an epoch, or "test set") as one line: {prefix/<profile>: chart}."""
    import wandb

    labels = list(curves_by_label)
    names = list(curves_by_label[labels[-1]])
    radii = list(range(len(curves_by_label[labels[-1]][names[0]])))

    def chart(name: str):
        ys = [list(curves_by_label[lb][name]) for lb in labels]
        return wandb.plot.line_series(
            xs=radii, ys=ys, keys=labels, title=f"{name}: radial profile", xname="radius (px)"
        )

    return {f"{prefix}/{name}": chart(name) for name in names}


def map_images(result: SensitivityResult, prefix: str, what: str) -> dict:
    """{prefix/<layer>: wandb.Image} of each layer's class-mean cosine map, on the layer's fixed colour range with a
    colour bar; `what` (e.g. "epoch 3, 30 val images") goes into the title."""
    import wandb

    from src.plotting import map_with_colorbar

    images = {}
    for layer in result.layers:
        lo, hi = cosine_range(layer)
        title = f"{layer} cosine, class mean\n{what}"
        images[f"{prefix}/{layer}"] = wandb.Image(
            map_with_colorbar(result.class_mean(layer, PAPER_METRIC).numpy(), result.max_shift, lo, hi, title),
            caption=f"{layer}: cosine similarity of original and shifted outputs, {what}; colour {lo:g} to {hi:g}",
        )
    return images


# ---- offline run folders---------------------------------------------------------------------------------------
def offline_folders(run_dir: str | Path, wandb_id: str) -> list[Path]:
    """The offline W&B folders of one W&B run below a run directory, oldest first."""
    return sorted(Path(run_dir).glob(f"wandb/offline-run-*-{wandb_id}"))


def history(folder: str | Path) -> list[dict]:
    """The logged rows of one offline folder: {key: value (JSON-decoded)}, with "_step"; a damaged run file is a
    one-line DataError naming it."""
    rows = []
    for file in Path(folder).glob("run-*.wandb"):
        try:
            rows += _history_rows(file)
        except Exception as e:  # not a W&B file, truncated, unreadable: protobuf and struct raise several types
            raise DataError(
                f"{file} is damaged or not a W&B run file ({type(e).__name__}): move its folder "
                f"{Path(folder).name} aside to go on without it"
            ) from None
    return rows


def _history_rows(file: Path) -> list[dict]:
    rows = []
    for rec in read_records(file):
        if rec.WhichOneof("record_type") == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in rec.history.item}
            if rec.history.HasField("step"):
                row.setdefault("_step", rec.history.step.num)
            rows.append(row)
    return rows


def next_step(run_dir: str | Path, wandb_id: str) -> int:
    """One past the last step any offline folder of this W&B run recorded (0 if none): where a continuation logs."""
    steps = [row.get("_step", -1) for f in offline_folders(run_dir, wandb_id) for row in history(f)]
    return int(max(steps, default=-1)) + 1


def sync_groups(root: str | Path) -> dict[str, list[Path]]:
    """W&B run id -> its offline folders below `root`, oldest first (the order `wandb sync` appends them in)."""
    groups: dict[str, list[Path]] = {}
    for folder in sorted(Path(root).rglob("offline-run-*"), key=lambda p: p.name.split("-")[2]):
        if folder.is_dir():
            groups.setdefault(folder.name.rsplit("-", 1)[-1], []).append(folder)
    return groups


def sync(root: str | Path, dry_run: bool = False) -> list[list[str]]:
    """Upload every offline run below `root`: one `wandb sync` per W&B run with all its folders, so a resumed
    training appends to its run (after `wandb login`). Returns the commands."""

    exe = shutil.which("wandb") or "wandb"
    commands = [[exe, "sync", *map(str, folders)] for folders in sync_groups(root).values()]
    for cmd in commands:
        print(" ".join(cmd[:3]), f"({len(cmd) - 2} folders of run {Path(cmd[-1]).name.rsplit('-', 1)[-1]})")
        if not dry_run:
            subprocess.run(cmd, check=True)
    return commands


if __name__ == "__main__":
    import sys

    sync(sys.argv[1] if len(sys.argv) > 1 else "outputs", dry_run="--dry-run" in sys.argv)
