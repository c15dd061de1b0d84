"""Sensitivity maps of trained networks: `python -m src.evaluate run_dir=<run or folder of runs>`.

For each finished run below `run_dir`, load the selected checkpoint, compute the translation-sensitivity maps on the
test set and write them atomically to `<run>/sensitivity.pt`. Runs whose result exists with the same settings are
skipped, so re-running after an interruption only does what is missing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig

from src.checks import integer, is_integer
from src.cli import run_cli, user_errors_exit
from src.errors import ConfigError, DataError, UserError
from src.runs import RunRecord, find_runs
from src.sensitivity import SensitivityResult, measuring_points
from src.sensitivity.metrics import METRICS, check_metrics
from src.sensitivity.settings import MeasurementSettings


def measurement_settings(cfg: DictConfig, checkpoint: Path) -> MeasurementSettings:
    """The evaluate config's measurement, tied to the checkpoint it measures (name, bytes, mtime)."""
    st = checkpoint.stat()
    return measurement_settings_of(cfg, f"{checkpoint.name}:{st.st_size}:{st.st_mtime_ns}")


def measurement_settings_of(cfg: DictConfig, checkpoint: str) -> MeasurementSettings:
    """The evaluate config's measurement of the weights with identity `checkpoint` ("name:bytes:mtime_ns")."""
    same = {key: cfg[key] for key in ("max_shift", "images_per_class", "autocast", "batch_size")}
    return MeasurementSettings(
        layers=tuple(cfg.layers), metrics=check_metrics(cfg.get("metrics")), checkpoint=checkpoint, **same
    )


def evaluate_run(run: Path, cfg: DictConfig) -> SensitivityResult | None:
    """Compute and save the run's test-set maps; None if the run is unfinished or its result is already there."""
    summary = RunRecord.read(run)
    if summary.get("status") == "unreadable":
        raise DataError(summary["error"])
    if not summary.completed:
        print(f"skip {run}: training status is {summary.get('status')!r}")
        return None
    out = run / cfg.output
    if not os.access(run, os.W_OK):
        raise ConfigError(f"{run} is not writable: {cfg.output} cannot be saved there")
    checkpoint = summary.checkpoint()  # resolved and verified once for the whole evaluation
    settings = measurement_settings(cfg, checkpoint)
    plan = measurement_plan(run, settings, cfg)
    if plan is None:
        return None
    measure, previous = plan
    result, images, device = measure_run(summary, measure, cfg)
    if previous is not None:  # the stored metrics kept, the new ones added
        result = merge_metrics(previous, result)
        settings = replace(settings, metrics=tuple(next(iter(result.maps.values()))))
    try:
        degenerate = result.degenerate_layers()
    except DataError as e:
        raise DataError(f"{run}: {e}; nothing saved") from e
    if degenerate:
        print(
            f"warning: {run}: the response at {', '.join(degenerate)} does not change with any shift (a collapsed "
            "network?): its cosine of 1 measures nothing; marked as degenerate",
            file=sys.stderr,
        )
    if not summary.get("meets_criterion", True):
        print(
            f"warning: {run} never met its training criterion: these are the maps of its best-validation epoch",
            file=sys.stderr,
        )
    result.meta |= {
        "degenerate_layers": degenerate,
        "settings": settings.key(),
        "run": str(run),
        "split": "test",
        "images": images,
        "device": str(device),
    }
    try:
        result.save(out)  # atomic: a failed write leaves no partial file behind
    except OSError as e:
        raise DataError(f"{out} cannot be written ({e.strerror}): nothing saved") from e
    shown = next(iter(result.maps[result.layers[0]]))  # cosine unless it was not asked for
    prof = {layer: [round(float(v), 3) for v in result.radial_mean(layer, shown)[::2]] for layer in result.layers}
    print(f"wrote {out}: {images} images; {shown} radial profile (r = 0, 2, 4, ...): {prof}")
    if cfg.wandb and summary.get("wandb_id") and "wandb" in summary["config"].get("logger", {}):
        try:  # the maps are saved: a damaged W&B folder costs the W&B copy only, said in one line
            eval_id = log_to_wandb(summary, result)
            print(f"W&B: the test-set results are the evaluation run {eval_id} (trained run {summary['wandb_id']})")
        except (UserError, OSError) as e:
            print(f"warning: {run}: the maps are saved, but not logged to W&B: {e}", file=sys.stderr)
    return result


def measurement_plan(
    run: Path, settings: MeasurementSettings, cfg: DictConfig
) -> tuple[MeasurementSettings, SensitivityResult | None] | None:
    """What to compute for the run, against what its saved result holds: None (complete: nothing), (settings,
    None) (everything: none saved, unreadable, other weights, or force=true), or (the missing metrics only, the
    saved result to extend); a result measured with other settings is a ConfigError, never silently replaced."""
    out = run / cfg.output
    if not out.is_file() or cfg.force:
        return settings, None
    try:
        previous = SensitivityResult.load(out)
    except UserError as e:
        print(f"recomputing {run}: {e}")
        return settings, None
    stored = previous.meta.get("settings")
    state = settings.compare(stored)
    if state == "complete":
        print(f"skip {run}: {cfg.output} is complete")
        return None
    if state == "different":
        raise ConfigError(
            f"{out} holds maps with other settings ({settings.differences(stored or {})}): force=true "
            f"replaces it, output=<name>.pt keeps both"
        )
    if state == "extend":
        missing = settings.missing_metrics(stored)
        print(f"extending {run}: {cfg.output} lacks metrics {list(missing)}")
        return replace(settings, metrics=missing), previous
    print(f"recomputing {run}: {cfg.output} was measured on other weights")
    return settings, None


def measure_run(summary: RunRecord, measure: MeasurementSettings, cfg: DictConfig):
    """(maps of the run's selected weights on its test images, number of images, device), as `measure` says."""
    import torch

    from src.data import balanced_subset
    from src.sensitivity import translation_sensitivity

    net, dm = summary.network(cfg.paths.data_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net.to(device)
    dm.setup("test")
    x, y = dm.test_set.images, dm.test_set.labels
    if cfg.images_per_class:
        idx = balanced_subset(y, cfg.images_per_class, dm.num_classes)
        x, y = x[idx], y[idx]
    kwargs = measure.engine_kwargs(dm.fill_value)
    kwargs["layers"] = measuring_points(net, kwargs["layers"])  # "all": every stage, named
    if cfg.devices > 1:
        result = sharded_sensitivity(net, x, y, dm.num_classes, kwargs, cfg.devices)
    else:
        chunks = [(x[i : i + 500], y[i : i + 500]) for i in range(0, len(y), 500)]
        result = translation_sensitivity(net, chunks, num_classes=dm.num_classes, progress=True, **kwargs)
    return result, len(y), device


def merge_metrics(previous: SensitivityResult, new: SensitivityResult) -> SensitivityResult:
    """`new` with the metrics `previous` holds and `new` lacks, per layer, in the metric table's order (same
    weights, images and shifts: the decisions and counts agree)."""
    for layer, maps in previous.maps.items():
        both = {**maps, **new.maps[layer]}
        new.maps[layer] = {m: both[m] for m in METRICS if m in both}
    return new


def log_to_wandb(summary: RunRecord, result: SensitivityResult) -> str:
    """Log the test-set results as their own W&B run (job type `evaluate`, a fresh id) in the training's group,
    named after it and pointing back to it (`config.trained_run`, `config.model_artifact`): the long-format table
    `radial_test`, one chart per profile, the class-mean cosine maps, and the radii-1..S means in the summary
    (`test_sens_mean/<layer>/<metric>`). Its own run, not a continuation of the training's: one W&B run has one job
    type, and a re-evaluation with other settings must not overwrite the first one's summary. Returns the run id."""
    import wandb

    from src import wandb_log
    from src.sensitivity.stats import full_ring_mean

    config = summary["config"]
    logger = config["logger"]["wandb"]
    curves = wandb_log.profiles(result)
    images = int(result.counts.sum())
    keys = wandb_log.run_keys(config)
    rows = wandb_log.radial_rows(curves, keys, "test", summary.get("selected_epoch"))
    payload = {"radial_test": wandb_log.radial_table(rows)}
    payload |= wandb_log.radial_charts({"test set": curves}, "test_radial")
    payload |= wandb_log.map_images(result, "test_maps", f"test set, {images} images")
    means = {f"test_sens_mean/{k}": full_ring_mean(c, result.max_shift) for k, c in curves.items()}
    trained = summary["wandb_id"]
    name = logger.get("name") or config.get("run_name")
    evaluation = {
        "trained_run": trained,
        "model_artifact": f"model-{trained}:selected",
        "images": images,
        "settings": result.meta.get("settings"),
        "selected_epoch": summary.get("selected_epoch"),
    }
    mode = "offline" if logger.get("offline", True) else "online"
    where = {key: logger.get(key) for key in ("project", "group", "tags")} | {"dir": str(summary.dir), "mode": mode}
    # its own run (job type evaluate, a fresh id drawn by W&B) in the trained run's project, group and folder
    with wandb.init(
        job_type="evaluate", name=f"{name}-test" if name else None, config=config | {"evaluation": evaluation}, **where
    ) as wrun:
        wrun.log(payload | {"epoch": summary.get("selected_epoch")}, step=0)
        wrun.summary.update(means | {"test_images": images})
        return wrun.id


class ShardedSensitivity(L.LightningModule):
    """Test-loop module: rank r accumulates images r, r + W, r + 2W, ... and rank 0 saves the reduced maps."""

    def __init__(self, net, images, labels, num_classes: int, settings: dict, out: Path) -> None:
        super().__init__()
        self.net, self.images, self.labels, self.settings, self.out = net, images, labels, settings, out
        self.num_classes = num_classes

    def setup(self, stage: str) -> None:
        from src.sensitivity import new_sums

        # Made here, in each process: spawned processes receive CPU tensors in shared memory, so sums made in
        # __init__ would be one buffer written by every rank.
        s = self.settings
        self.sums = new_sums(s["layers"], self.num_classes, s["max_shift"], s.get("metrics"))

    def test_dataloader(self):
        import torch
        from torch.utils.data import DataLoader

        from src.data.datamodule import IndexBatches, TensorBatches

        shard = torch.arange(self.global_rank, len(self.labels), self.trainer.world_size)
        data = TensorBatches(self.images[shard], self.labels[shard])
        return DataLoader(data, sampler=IndexBatches(len(shard), 500, shuffle=False), batch_size=None)

    def test_step(self, batch, batch_idx: int) -> None:
        from src.sensitivity import accumulate_sensitivity

        accumulate_sensitivity(self.net, [batch], self.sums, **self.settings)

    def on_test_epoch_end(self) -> None:
        from src.sensitivity import sensitivity_result

        s = self.settings
        # every rank: this syncs the sums
        result = sensitivity_result(self.sums, s["layers"], s["max_shift"], metrics=s.get("metrics"))
        if self.global_rank == 0:
            result.save(self.out)


def sharded_sensitivity(net, images, labels, num_classes: int, settings: dict, devices: int):
    """The maps computed by `devices` processes (Lightning DDP), each on every devices-th image; exact.

    Each process accumulates its own shard's per-class sums; one sum-reduction at the end merges them. The shards
    are disjoint and cover the data without padding (unlike DistributedSampler), so the counts add up to N.
    """

    import torch

    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sharded.pt"
        quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
        trainer = L.Trainer(
            accelerator=accelerator, devices=devices, strategy="ddp_spawn", use_distributed_sampler=False, **quiet
        )
        trainer.test(ShardedSensitivity(net, images, labels, num_classes, settings, out), verbose=False)
        result = SensitivityResult.load(out)
    result.meta |= {"devices": devices, "fill_value": settings["fill_value"]}
    return result


def check_evaluate_config(cfg: DictConfig) -> None:
    """Every measurement setting, checked before any run is loaded: one line naming the setting."""
    import torch

    if not cfg.run_dir:
        raise ConfigError("run_dir is required: python -m src.evaluate run_dir=<a run directory or a folder of runs>")
    for key, minimum in (("max_shift", 0), ("batch_size", 1), ("devices", 1)):
        integer(key, cfg[key], minimum)
    n = cfg.images_per_class
    if n is not None and (not is_integer(n) or n < 1):
        raise ConfigError(f"images_per_class={n!r} is not allowed: an integer >= 1, or null for the whole test set")
    if cfg.autocast is not None and not isinstance(getattr(torch, str(cfg.autocast), None), torch.dtype):
        raise ConfigError(f"autocast={cfg.autocast!r} is not allowed: a torch dtype such as bfloat16, or null")
    from src.hardware import check_bf16

    check_bf16("autocast", cfg.autocast, "cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(cfg.layers, str):  # layers=conv: one layer, not the letters of its name
        cfg.layers = [cfg.layers]
    if not cfg.layers:
        raise ConfigError("layers=[] is not allowed: name at least one layer, e.g. [conv,softmax]")
    if isinstance(cfg.get("metrics"), str):  # metrics=cosine: one metric
        cfg.metrics = [cfg.metrics]
    check_metrics(cfg.get("metrics"))


def workload(runs: int, images_per_class: int | None, max_shift: int) -> str:
    """What an evaluation is about to compute, said before it starts (a whole test set is the default)."""
    shifts = (2 * max_shift + 1) ** 2
    if images_per_class is not None:
        return f"measuring {runs} run(s), each on {images_per_class} test images per class x {shifts} shifts"
    cost = "6.5-13 min per MNIST network on a 2-core CPU: README; images_per_class=100 measures a tenth of it"
    return f"measuring {runs} run(s), each on the whole test set (10,000 MNIST images) x {shifts} shifts ({cost})"


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    check_evaluate_config(cfg)
    runs, failed, done = find_runs(cfg.run_dir), [], 0
    print(workload(len(runs), cfg.images_per_class, cfg.max_shift), flush=True)
    for i, run in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {run}", flush=True)
        try:
            done += evaluate_run(run, cfg) is not None
        except UserError as e:  # one damaged run must not stop the others
            print(f"error: {e}", file=sys.stderr)
            failed.append(run)
    print(f"{done} evaluated, {len(runs) - done - len(failed)} skipped, {len(failed)} failed")
    from src.sweep_report import refresh_results

    for sweep in sorted({run.parent for run in runs}):  # a sweep's results.csv gains the test-set columns
        if (path := refresh_results(sweep)) is not None:
            print(f"updated {path}")
    if failed:
        raise DataError(f"{len(failed)} of {len(runs)} runs could not be evaluated (listed above)")


if __name__ == "__main__":
    run_cli(main, "evaluate")
