"""LightningModule: cross-entropy training of any image classifier with the configured optimizer (Adam by default), torchmetrics accuracies."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy


class ClassifierModule(L.LightningModule):
    """Wraps `net` (images (N, C, H, W) -> logits (N, num_classes)).

    Logs `train/loss`, `train/acc` (running accuracy over the epoch's batches, as Keras-style "training accuracy"),
    `val/loss`, `val/acc`, `test/loss`, `test/acc`, and `val/acc_eligible`: the epoch's validation accuracy if its
    running training accuracy reached `train_accuracy_criterion`, else -1; and `val/selection`, which checkpoint
    selection monitors: the best eligible epoch when any epoch meets the criterion, else the best-validation epoch. A non-finite training loss raises
    `FloatingPointError`.
    """

    def __init__(
        self,
        net: nn.Module,
        lr: float = 1e-3,
        num_classes: int = 10,
        channels_last: bool = False,
        train_accuracy_criterion: float = 0.0,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer"])
        # (parameters, lr=...) -> optimizer: conf/optimizer/ instantiated with _partial_; None: Adam, the paper's
        self.make_optimizer = optimizer or torch.optim.Adam
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.channels_last = channels_last
        self.nan_check_every = 25
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _step(self, batch, stage: str, acc) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc(logits, y)
        on_step = stage == "train"
        # sync_dist: under DDP the epoch's loss is the mean over every process's share (a no-op on one process)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_step, sync_dist=True)
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True)
        if on_step:  # the loss curve within epochs (every trainer.log_every_n_steps steps)
            self.log("train/loss_step", loss, on_step=True, on_epoch=False)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train", self.train_acc)
        # On a GPU, checking every step would sync it each step; a diverged network stays non-finite, so every
        # `nan_check_every` steps catches it just as surely. On the CPU the check is free: every step.
        check = loss.device.type == "cpu" or batch_idx % self.nan_check_every == 0
        if check and not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.global_step}: the network diverged")
        return loss

    def on_validation_epoch_start(self) -> None:
        # validation (and the sensitivity callback after it) must never run on a diverged network
        if not self.trainer.sanity_checking and not all(torch.isfinite(p).all() for p in self.net.parameters()):
            raise FloatingPointError(f"network weights are non-finite at epoch {self.current_epoch}: diverged")

    def on_validation_epoch_end(self) -> None:
        # Validation runs after the epoch's last training batch and before the training metrics are reset, so
        # train_acc still holds this epoch's running accuracy.
        if self.trainer.sanity_checking:
            return
        train_acc = float(self.train_acc.compute()) if self.train_acc.update_called else 0.0
        eligible = train_acc >= self.hparams.train_accuracy_criterion
        val_acc = self.val_acc.compute()
        self.log("val/acc_eligible", val_acc if eligible else torch.tensor(-1.0))
        # What checkpoint selection maximises: eligible epochs score 1 + val acc (in [1, 2]), the others val acc - 1
        # (in [-1, 0]). So the best eligible epoch wins when any epoch met the criterion, and otherwise the
        # best-validation epoch (never simply the first), which the summary then marks as not meeting it.
        self.log("val/selection", val_acc + 1 if eligible else val_acc - 1)

    @torch.inference_mode()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
        """Accuracy of the network in eval mode on images (N, C, H, W) with labels (N,), as a fraction."""
        was_training = self.training
        self.eval()
        correct = sum(
            int((self(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum())
            for i in range(0, len(labels), batch_size)
        )
        self.train(was_training)
        return correct / len(labels)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val", self.val_acc)

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test", self.test_acc)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.parameters(), lr=self.hparams.lr)
