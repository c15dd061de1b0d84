"""Training-control callbacks: the paper's stopping criterion and a per-epoch history for the run summary."""

from __future__ import annotations

import math

import lightning as L


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

    KEYS = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_eligible")

    def __init__(self) -> None:
        self.epochs: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        record = {"epoch": trainer.current_epoch} | {k: float(m[k]) for k in self.KEYS if k in m}
        self.epochs = [e for e in self.epochs if e["epoch"] != record["epoch"]] + [record]
        if not math.isfinite(record.get("train/loss", 0.0)):
            raise FloatingPointError(
                f"training loss is {record['train/loss']} at epoch {record['epoch']}: diverged"
            )

    def state_dict(self) -> dict:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = list(state_dict["epochs"])

    def best(self, monitor: str = "val/acc_eligible") -> dict | None:
        """The first epoch with the highest `monitor` (the one ModelCheckpoint keeps: it replaces only on a gain)."""
        scored = [e for e in self.epochs if monitor in e]
        return max(scored, key=lambda e: e[monitor]) if scored else None
