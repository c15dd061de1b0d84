"""Hydra callback: at the end of a multirun, list the jobs that failed (with their errors) and exit non-zero."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.errors import UserError
from src.io import read_json


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
        print(f"sweep {config.hydra.sweep.dir}: {len(done)} completed, {len(failed)} failed")
        for line in failed:
            print(f"  FAILED {line}", file=sys.stderr)
        if failed:
            sys.exit(1)
