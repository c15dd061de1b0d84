"""Hydra callback: at the end of a multirun, write results.csv, list the failed jobs and exit non-zero if any."""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.io import atomic_write
from src.runs import sweep_summaries

RESULT_COLUMNS = ("status", "meets_criterion", "epochs", "best_epoch", "train_acc", "train_acc_full", "val_acc",
                  "test_acc", "wall_time_s", "error")  # fmt: skip


def results_table(sweep_dir: str | Path) -> str:
    """CSV text, one row per job below sweep_dir: its swept keys (from the job directory's name), then
    RESULT_COLUMNS from its summary.json."""
    rows = []
    for s in sweep_summaries(sweep_dir):
        job = Path(s["run_dir"]).name
        # job directories are named key=value,key=value; a value may be a list with commas inside brackets
        keys = dict(kv.split("=", 1) for kv in re.split(r",(?![^\[]*\])", job) if "=" in kv)
        rows.append(keys | {c: s.get(c) for c in RESULT_COLUMNS} | {"job": job})
    swept = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS) - {"job"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [*swept, *RESULT_COLUMNS, "job"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def sweep_status(sweep_dir: str | Path) -> tuple[list[str], list[str]]:
    """(completed job names, 'name: status: error' of the others) below a sweep directory."""
    done, failed = [], []
    for s in sweep_summaries(sweep_dir):
        name = Path(s["run_dir"]).name
        if s.get("status") == "completed":
            done.append(name)
        else:
            failed.append(f"{name}: {s.get('status')}: {s.get('error', 'no error recorded')}")
    return done, failed


class SweepReport(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        done, failed = sweep_status(config.hydra.sweep.dir)
        table = results_table(config.hydra.sweep.dir)
        path = atomic_write(Path(config.hydra.sweep.dir) / "results.csv", lambda p: p.write_text(table))
        print(f"sweep {config.hydra.sweep.dir}: {len(done)} completed, {len(failed)} failed; table: {path}")
        for line in failed:
            print(f"  FAILED {line}", file=sys.stderr)
        if failed:
            sys.exit(1)
