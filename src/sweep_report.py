"""Hydra callback: at the end of a multirun, write results.csv, list the failed jobs and exit non-zero if any."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.errors import UserError
from src.files import atomic_write
from src.runs import MAPS, RunRecord, sweep_summaries
from src.sensitivity.metrics import PAPER_METRIC

RESULT_COLUMNS = ("status", "meets_criterion", "epochs", "selected_epoch", "train_acc", "train_acc_full", "val_acc",
                  "test_acc", "wall_time_s", "error")  # fmt: skip


def results_table(sweep_dir: str | Path) -> str:
    """CSV text, one row per job below sweep_dir: its swept keys (named by the job directories, valued from each
    job's own config, so a job that did not sweep a key still shows its value), RESULT_COLUMNS from its summary.json
    (floats to 4 significant digits), and the headline sensitivity: mean cosine over r = 1..S per measuring point on
    the test set (`test_cos_*`, once src.evaluate ran) and on the callback's validation subset at the selected epoch
    (`val_cos_*`), never mixed in one column, each with the images and largest shift it was measured on
    (`test_cos_images`, `test_cos_max_shift`, `val_cos_...`)."""
    from src.runs import flat_config

    summaries = sweep_summaries(sweep_dir)
    # job directories are named key=value,key=value; a value may be a list with commas inside brackets
    named = [dict(kv.split("=", 1) for kv in re.split(r",(?![^\[]*\])", s.name) if "=" in kv) for s in summaries]
    swept = sorted({k for n in named for k in n})
    rows = []
    for s, names in zip(summaries, named, strict=True):
        # every job's own value, also of a key only another job swept
        config = flat_config(s.get("config") or {})
        keys = {k: config.get(k, config.get(f"{k}.name", names.get(k, ""))) for k in swept}
        values = {c: _rounded(s.get(c)) for c in RESULT_COLUMNS}
        rows.append(keys | values | headline_sensitivity(s) | {"job": s.name})
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, [*swept, *RESULT_COLUMNS, *sorted(_sensitivity_columns(rows)), "job"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _sensitivity_columns(rows: list[dict]) -> set[str]:
    return {k for r in rows for k in r if k.startswith(("test_cos_", "val_cos_")) or k == "val_epoch"}


def _rounded(value):
    """Floats to 4 significant digits for the table (0.3691999912261963 -> 0.3692); anything else as it is."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def headline_sensitivity(run: RunRecord) -> dict:
    """{"test_cos_<point>": mean cosine over r = 1..S on the test set (src.evaluate's sensitivity.pt),
    "val_cos_<point>" and "val_epoch": the same on the callback's validation subset at the selected epoch}; each
    only where its file exists and reads."""
    from src.callbacks.sensitivity import EPOCHS_DIR
    from src.sensitivity import SensitivityResult
    from src.sensitivity.stats import full_ring_mean

    epoch = run.get("selected_epoch")
    sources = [(run.dir / MAPS, "test_cos_")]
    if epoch is not None:
        sources.append((run.dir / EPOCHS_DIR / f"epoch={epoch:03d}.pt", "val_cos_"))
    out: dict = {}
    for path, prefix in sources:
        if path.is_file():
            try:
                res = SensitivityResult.load(path)
            except UserError:
                continue
            means = {layer: full_ring_mean(res.radial_mean(layer, PAPER_METRIC), res.max_shift) for layer in res.layers}
            out |= {f"{prefix}{layer}": round(mean, 4) for layer, mean in means.items()}
            # how each row was measured, beside its numbers: rows measured on other images or shifts do not average
            out |= {f"{prefix}images": int(res.counts.sum()), f"{prefix}max_shift": res.max_shift}
            if prefix == "val_cos_":
                out["val_epoch"] = epoch
    return out


def refresh_results(sweep_dir: Path) -> Path | None:
    """Rewrite <sweep_dir>/results.csv where one exists (after src.evaluate added test-set maps); None if none."""
    path = Path(sweep_dir) / "results.csv"
    if not path.is_file():
        return None
    table = results_table(sweep_dir)
    return atomic_write(path, lambda p: p.write_text(table))


def sweep_job_names(config: DictConfig) -> set[str] | None:
    """The directory names of this multirun's own jobs (Hydra's override_dirname of each combination), or None
    when they cannot be worked out (another sweeper or subdir pattern): then every job directory counts."""
    from src.hydra_adapter import job_dirname, sweep_jobs

    try:
        names = {job_dirname(config, job) for job in sweep_jobs(config.hydra.overrides.task)}
    # an unusual sweep, or Hydra internals moved (tests/test_cli.py would say): the whole folder
    except Exception:
        return None
    return names if any((Path(config.hydra.sweep.dir) / n).is_dir() for n in names) else None


def sweep_status(sweep_dir: str | Path, only: set[str] | None = None) -> tuple[list[str], list[str]]:
    """(completed job names, 'name: status: error' of the others) below a sweep directory (of `only`, if given)."""
    done, failed = [], []
    for s in sweep_summaries(sweep_dir):
        name = s.name
        if only is not None and name not in only:
            continue
        if s.completed:
            done.append(name)
        else:
            failed.append(f"{name}: {s.get('status')}: {s.get('error', 'no error recorded')}")
    return done, failed


TOTAL_ENV = "SWEEP_TOTAL_JOBS"  # read by each job for its "[i/N]" progress line; launchers' workers inherit it


class SweepReport(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:

        names = sweep_job_names(config) or set()
        try:  # before any job ran, sweep_job_names cannot check the folder: count the combinations directly
            from src.hydra_adapter import sweep_jobs

            total = len(sweep_jobs(config.hydra.overrides.task))
        except Exception:
            total = len(names)
        if total:
            os.environ[TOTAL_ENV] = str(total)
            print(f"sweep {config.hydra.sweep.dir}: {total} jobs", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        done, failed = sweep_status(config.hydra.sweep.dir, sweep_job_names(config))
        table = results_table(config.hydra.sweep.dir)
        path = atomic_write(Path(config.hydra.sweep.dir) / "results.csv", lambda p: p.write_text(table))
        print(f"sweep {config.hydra.sweep.dir}: {len(done)} completed, {len(failed)} failed; table: {path}")
        for line in failed:
            print(f"  FAILED {line}", file=sys.stderr)
        if failed:
            sys.exit(1)
