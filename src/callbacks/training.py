"""Training-control callbacks: the paper's stopping criterion and a per-epoch history for the run summary."""

from __future__ import annotations

import math
import os

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class StopAtTrainAccuracy(L.Callback):
    """Stop once the epoch's training accuracy reaches `threshold` (the paper trains to > 99%)."""

    def __init__(self, threshold: float = 0.99, monitor: str = "train/acc") -> None:
        self.threshold, self.monitor = threshold, monitor

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) >= self.threshold:
            trainer.should_stop = True


class EpochHistory(L.Callback):
    """Keeps one record per finished epoch: train/val loss and accuracy. Raises if the training loss is non-finite."""

    KEYS = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_eligible", "val/selection")

    def __init__(self) -> None:
        self.epochs: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        record = {"epoch": trainer.current_epoch} | {k: float(m[k]) for k in self.KEYS if k in m}
        self.epochs = [e for e in self.epochs if e["epoch"] != record["epoch"]] + [record]
        if not math.isfinite(record.get("train/loss", 0.0)):
            raise FloatingPointError(f"training loss is {record['train/loss']} at epoch {record['epoch']}: diverged")

    def state_dict(self) -> dict:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = list(state_dict["epochs"])

    def selected(self, monitor: str = "val/selection") -> dict | None:
        """The first epoch with the highest `monitor` (the one ModelCheckpoint keeps: it replaces only on a gain).
        Histories from before `val/selection` existed fall back to `val/acc_eligible`."""
        if monitor == "val/selection" and not any(monitor in e for e in self.epochs):
            monitor = "val/acc_eligible"
        scored = [e for e in self.epochs if monitor in e]
        return max(scored, key=lambda e: e[monitor]) if scored else None


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint whose state survives a moved or copied run directory.

    Lightning drops the best-score tracking when the checkpoint folder's path changed since the state was saved;
    a resumed run then selects among its new epochs only and reports one epoch's validation accuracy beside another
    epoch's weights. Here the stored paths are re-rooted at the current folder (same file names) instead.
    """

    def load_state_dict(self, state_dict: dict) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and os.path.abspath(old) != os.path.abspath(self.dirpath):

            def moved(path: str) -> str:
                return os.path.join(self.dirpath, os.path.basename(path)) if path else path

            state_dict = dict(state_dict, dirpath=self.dirpath)
            for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
                if key in state_dict:
                    state_dict[key] = moved(state_dict[key])
            state_dict["best_k_models"] = {moved(k): v for k, v in state_dict.get("best_k_models", {}).items()}
        super().load_state_dict(state_dict)
