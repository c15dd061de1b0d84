"""A CSV logger whose metrics.csv survives a resume (Lightning's deletes the file when a run directory is reused)."""

from __future__ import annotations

import csv
import os
import time

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _KeepingWriter(ExperimentWriter):
    """Appends to an existing metrics.csv, with its header as the starting columns, instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            try:
                with open(self.metrics_file_path, newline="") as f:
                    self.metrics_keys = list(next(csv.reader(f), []))
            except (csv.Error, UnicodeDecodeError, OSError):  # damaged: kept aside, a new file starts
                os.replace(self.metrics_file_path, f"{self.metrics_file_path}.damaged-{int(time.time())}")
                self.metrics_keys = []


class ResumableCSVLogger(CSVLogger):
    """lightning's CSVLogger, except that a resumed run keeps every earlier row of metrics.csv."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger without the `anonymous` argument it always passes to wandb.init (which then warns
    "The anonymous setting has no effect" on every run); `tags` given as one string is one tag, not its letters."""

    def __init__(self, *args, tags=None, **kwargs) -> None:
        if isinstance(tags, str):
            tags = [tags]
        super().__init__(*args, tags=tags, **kwargs)
        self._wandb_init.pop("anonymous", None)
