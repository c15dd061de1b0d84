"""Epoch-end translation sensitivity on a fixed, class-balanced subset of the validation set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from src import wandb_log
from src.data import balanced_subset
from src.sensitivity import SensitivityResult, translation_sensitivity
from src.sensitivity.maps import LOGITS, PAPER_POINTS
from src.sensitivity.stats import full_ring_mean

EPOCHS_DIR = "sensitivity_epochs"  # <run>/sensitivity_epochs/epoch=EEE.pt: one result per measured epoch
SUBSET_SEED = 0  # the validation subset's draw: the same images at every epoch and in every run


class SensitivityCallback(L.Callback):
    """After each validation epoch (not the sanity check), compute maps at `layers` and log them.

    Writes `<run>/sensitivity_epochs/epoch=EEE.pt` (a SensitivityResult) so invariance can be plotted over training;
    logs `sens_mean/<layer>/<metric>` (the class-mean radial profile averaged over radii 1..S) to every logger, the
    profiles per radius as `sens/<layer>/<metric>/rRR` columns of metrics.csv, and to W&B what src/wandb_log.py
    builds (a long-format table, one chart per profile with every epoch overlaid, the class-mean cosine maps), at the
    trainer's step with the epoch.

    Args:
        images_per_class: subset size per class; the default 3 (30 MNIST images, 13,230 shifted images) adds
            about 10% to an MNIST epoch on a 2-core CPU.
        max_shift: S, pixels. every_n_epochs: run on epochs where (epoch + 1) % n == 0.
    """

    def __init__(
        self,
        images_per_class: int = 3,
        layers: tuple[str, ...] | list[str] = (*PAPER_POINTS, LOGITS),
        max_shift: int = 10,
        every_n_epochs: int = 1,
        batch_size: int = 256,
    ) -> None:
        # layers=conv: one point, not 4 letters
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        self.images_per_class, self.layers, self.max_shift = images_per_class, layers, max_shift
        self.every_n_epochs, self.batch_size = every_n_epochs, batch_size
        self._subset: tuple[torch.Tensor, torch.Tensor] | None = None
        self.curves: list[dict] = []  # per epoch: {"epoch": e, "<layer>/<metric>": radial profile, ...}

    def _data(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        if self._subset is None:
            val = trainer.datamodule.val_set
            idx = balanced_subset(val.labels, self.images_per_class, trainer.datamodule.num_classes, SUBSET_SEED)
            idx = idx.to(val.labels.device)
            self._subset = (val.images[idx], val.labels[idx])
        return self._subset

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if trainer.sanity_checking or (epoch + 1) % self.every_n_epochs:
            return
        x, y = self._data(trainer)
        dm = trainer.datamodule
        result = translation_sensitivity(
            pl_module.net, x, y, self.layers, dm.num_classes, self.max_shift, dm.fill_value, self.batch_size
        )
        result.meta |= {"epoch": epoch, "global_step": trainer.global_step, "subset": "val", "images": len(y)}
        present = result.counts > 0
        if any(torch.isnan(m[present]).any() for layer in result.maps.values() for m in layer.values()):
            # finite weights can still overflow to inf activations: no file, no NaN profile from such a network
            raise FloatingPointError(f"non-finite layer outputs at epoch {epoch}: the network diverged")
        if trainer.is_global_zero and trainer.default_root_dir:
            result.save(Path(trainer.default_root_dir) / EPOCHS_DIR / f"epoch={epoch:03d}.pt")
        curves = wandb_log.profiles(result)
        # a resumed epoch replaces its old curves
        self.curves = [c for c in self.curves if c["epoch"] != epoch]
        self.curves.append({"epoch": epoch} | curves)
        # One summary number per curve goes to every logger (a dashboard's default panels); the per-radius values go
        # to metrics.csv, and to W&B as a long-format table, one chart per curve with every epoch overlaid, and maps.
        pl_module.log_dict(self.summary_at(epoch), on_epoch=True)
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                scalars = {f"sens/{k}/r{r:02d}": float(v) for k, c in curves.items() for r, v in enumerate(c)}
                logger.log_metrics(scalars | {"epoch": epoch}, step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                what = f"epoch {epoch}, {len(y)} val images"
                payload = self.wandb_payload(result, dict(logger.experiment.config), what)
                logger.log_metrics(payload | {"epoch": epoch}, step=trainer.global_step)

    def summary_at(self, epoch: int) -> dict[str, float]:
        """{"sens_mean/<layer>/<metric>": class-mean profile averaged over radii 1..S} of an epoch measured here."""
        curves = next(c for c in self.curves if c["epoch"] == epoch)
        return {f"sens_mean/{k}": full_ring_mean(c, self.max_shift) for k, c in curves.items() if k != "epoch"}

    def wandb_payload(self, result: SensitivityResult, config: Mapping, what: str) -> dict:
        """This epoch's W&B payload: the long-format table of every epoch so far (`radial_val`), one chart per curve
        with every epoch overlaid (`sens_radial/*`), and the class-mean cosine maps (`sens_maps/*`)."""
        keys = wandb_log.run_keys(config)
        curves = {c["epoch"]: {k: v for k, v in c.items() if k != "epoch"} for c in self.curves}
        rows = [row for epoch, c in curves.items() for row in wandb_log.radial_rows(c, keys, "val", epoch)]
        charts = wandb_log.radial_charts({f"epoch {epoch}": c for epoch, c in curves.items()}, "sens_radial")
        return {"radial_val": wandb_log.radial_table(rows)} | charts | wandb_log.map_images(result, "sens_maps", what)

    def state_dict(self) -> dict:
        return {"curves": self.curves}

    def load_state_dict(self, state_dict: dict) -> None:
        self.curves = list(state_dict.get("curves", []))
