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

from src.errors import UserError
from src.io import atomic_write, read_json

RESULT_COLUMNS = ("status", "meets_criterion", "epochs", "best_epoch", "train_acc", "train_acc_full", "val_acc",
                  "test_acc", "wall_time_s", "error")  # fmt: skip


def results_table(sweep_dir: str | Path) -> str:
    """CSV text, one row per job below sweep_dir: its swept keys (from the job directory's name), then
    RESULT_COLUMNS from its summary.json."""
    rows = []
    for path in sorted(Path(sweep_dir).glob("*/summary.json")):
        # job directories are named key=value,key=value; a value may be a list with commas inside brackets
        keys = dict(kv.split("=", 1) for kv in re.split(r",(?![^\[]*\])", path.parent.name) if "=" in kv)
        try:
            s = read_json(path)
        except UserError as e:
            s = {"status": "unreadable", "error": str(e)}
        rows.append(keys | {c: s.get(c) for c in RESULT_COLUMNS} | {"job": path.parent.name})
    swept = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS) - {"job"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [*swept, *RESULT_COLUMNS, "job"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def sweep_status(sweep_dir: str | Path) -> tuple[list[str], list[str]]:
    """(completed job dirs, 'dir: error' of failed or unfinished jobs) below a sweep directory."""
    done, failed = [], []
    for path in sorted(Path(sweep_dir).glob("*/summary.json")):
        try:
            s = read_json(path)
        except UserError as e:
            failed.append(f"{path.parent.name}: {e}")
            continue
        if s.get("status") == "completed":
            done.append(path.parent.name)
        else:
            failed.append(f"{path.parent.name}: {s.get('status')}: {s.get('error', 'no error recorded')}")
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
