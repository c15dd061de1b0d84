"""Lightning's loggers, adjusted: a CSV logger whose metrics.csv survives a resume (Lightning's deletes the file when a
run directory is reused), and a W&B logger with explicit steps and only the selected checkpoint as an artifact."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_only

from src.errors import UserError
from src.lightning_adapter import KeepingExperimentWriter


class ResumableCSVLogger(CSVLogger):
    """lightning's CSVLogger, except that a resumed run keeps every earlier row of metrics.csv."""

    @property
    def experiment(self) -> KeepingExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = KeepingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


# Logged once per epoch: plotted against the epoch, not the optimizer step (the step stays the row's key for syncing)
EPOCH_METRICS = ("train/acc", "train/loss", "val/*", "sens_mean/*", "sens_radial/*", "sens_maps/*", "radial_val")


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger, with four changes:

    - every row is logged at an explicit W&B step, the trainer's global step (never below the last one logged), so a
      resumed run's new offline folder continues its steps and syncs as an append (src/wandb_log.py), and the
      epoch-end metrics, tables and images of one step share one row;
    - `log_model=true` logs only the selected checkpoint (the ModelCheckpoint with a monitor), not checkpoints/last.ckpt
      (a resume point, not a result);
    - the per-epoch metrics are plotted against `epoch` (W&B define_metric);
    - no `anonymous` argument to wandb.init (it warned "The anonymous setting has no effect" on every run), and `tags`
      given as one string is one tag, not its letters.
    """

    def __init__(self, *args, tags=None, log_model: bool = False, first_step: int = 0, **kwargs) -> None:
        if isinstance(tags, str):
            tags = [tags]
        # Lightning refuses log_model offline (it assumes an upload); offline, W&B keeps the artifact for the sync
        super().__init__(*args, tags=tags, log_model=False, **kwargs)
        self._wandb_init.pop("anonymous", None)
        self._last_step = first_step  # a resumed run: one past the last step its earlier offline folders hold
        self._log_selected = bool(log_model)
        self._selection: ModelCheckpoint | None = None
        self._logged_checkpoint = ""

    @property
    def experiment(self):
        """The W&B run; on first use, the per-epoch metrics get `epoch` as their x axis (EPOCH_METRICS). A run that
        W&B cannot start (online without a login, or no network) is one line, before the first epoch."""
        import wandb

        try:
            run = super().experiment
        except wandb.errors.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(
                f"W&B could not start the run ({first}): `wandb login` (or set WANDB_API_KEY) to log online, or "
                "keep logger.wandb.offline=true (the default) and upload later with `make wandb-sync`"
            ) from None
        if not getattr(self, "_epoch_axis", False) and callable(getattr(run, "define_metric", None)):
            self._epoch_axis = True
            run.define_metric("epoch")
            for pattern in EPOCH_METRICS:
                run.define_metric(pattern, step_metric="epoch")
        return run

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        metrics = dict(metrics)
        if step is None:
            step = self._last_step
        if all(k.startswith("test/") or k == "epoch" for k in metrics):
            # the test after fit shares the last epoch's step, but Lightning labels it with the number of epochs
            # run (one past the last): that "epoch" would relabel the last epoch's row
            metrics.pop("epoch", None)
        self._last_step = max(self._last_step, int(step))
        self.experiment.log(metrics | {"trainer/global_step": step}, step=self._last_step)

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        # last.ckpt: resuming, not a result
        if self._log_selected and checkpoint_callback.monitor is not None:
            self._selection = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """After a successful fit: the selected checkpoint as artifact `model-<run id>` (aliases selected, latest)."""
        import wandb

        cb = self._selection
        if status != "success" or cb is None or self._experiment is None or not cb.best_model_path:
            return
        if cb.best_model_path == self._logged_checkpoint:
            return
        score = None if cb.best_model_score is None else float(cb.best_model_score)
        artifact = wandb.Artifact(
            name=f"model-{self.experiment.id}",
            type="model",
            metadata={"file": os.path.basename(cb.best_model_path), "monitor": cb.monitor, "score": score},
        )
        artifact.add_file(cb.best_model_path, name="model.ckpt")
        self.experiment.log_artifact(artifact, aliases=["selected", "latest"])
        self._logged_checkpoint = cb.best_model_path
