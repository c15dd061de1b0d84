"""Epoch-end translation sensitivity on a fixed, class-balanced subset of the validation set."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from src.data import balanced_subset
from src.sensitivity import SensitivityResult, translation_sensitivity
from src.sensitivity.stats import full_ring_mean

LOGGED_METRICS = ("cosine", "euclidean")  # per layer; accuracy is logged once


class SensitivityCallback(L.Callback):
    """After each validation epoch (not the sanity check), compute maps at `layers` and log them.

    Writes `<run>/sensitivity_epochs/epoch=EEE.pt` (a SensitivityResult) so invariance can be plotted over training;
    logs `sens_mean/<layer>/<metric>` (the class-mean radial profile averaged over radii 1..S) to every logger, the
    profiles per radius as `sens/<layer>/<metric>/rRR` columns of metrics.csv, and to W&B one chart per profile with
    every epoch overlaid plus the class-mean cosine maps as colour images.

    Args:
        images_per_class: subset size per class; the default 3 (30 MNIST images, 13,230 shifted images) adds
            about 10% to an MNIST epoch on a 2-core CPU.
        max_shift: S, pixels. every_n_epochs: run on epochs where (epoch + 1) % n == 0.
    """

    def __init__(
        self,
        images_per_class: int = 3,
        layers: tuple[str, ...] | list[str] = ("conv", "softmax", "fc"),
        max_shift: int = 10,
        every_n_epochs: int = 1,
        batch_size: int = 256,
        subset_seed: int = 0,
        dirname: str = "sensitivity_epochs",
    ) -> None:
        self.images_per_class, self.layers, self.max_shift = images_per_class, tuple(layers), max_shift
        self.every_n_epochs, self.batch_size, self.subset_seed, self.dirname = (
            every_n_epochs,
            batch_size,
            subset_seed,
            dirname,
        )
        self._subset: tuple[torch.Tensor, torch.Tensor] | None = None
        self.curves: list[dict] = []  # per epoch: {"epoch": e, "<layer>/<metric>": radial profile, ...}

    def _data(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        if self._subset is None:
            val = trainer.datamodule.val_set
            idx = balanced_subset(
                val.labels, self.images_per_class, trainer.datamodule.num_classes, self.subset_seed
            )
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
            result.save(Path(trainer.default_root_dir) / self.dirname / f"epoch={epoch:03d}.pt")
        curves = {
            f"{layer}/{m}": result.radial_mean(layer, m) for layer in self.layers for m in LOGGED_METRICS
        }
        curves["accuracy"] = result.radial_mean(None, "accuracy")
        self.curves = [
            c for c in self.curves if c["epoch"] != epoch
        ]  # a resumed epoch replaces its old curves
        self.curves.append({"epoch": epoch} | {k: c.tolist() for k, c in curves.items()})
        # One summary number per curve goes to every logger (a dashboard's default panels); the per-radius values go
        # to metrics.csv only, and W&B gets them as one chart per curve with every epoch overlaid.
        summary = {f"sens_mean/{k}": full_ring_mean(c, self.max_shift) for k, c in curves.items()}
        pl_module.log_dict(summary, on_epoch=True)
        scalars = {f"sens/{k}/r{r:02d}": float(v) for k, c in curves.items() for r, v in enumerate(c)}
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger) and trainer.is_global_zero:
                logger.log_metrics(scalars | {"epoch": epoch}, step=trainer.global_step)
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                logger.experiment.log(
                    self.wandb_payload(result) | {"trainer/global_step": trainer.global_step}
                )

    def wandb_payload(self, result: SensitivityResult) -> dict:
        """W&B charts: per curve, the radial profiles of every epoch so far as one overlaid line chart; per layer, the
        class-mean cosine map of this epoch as a colour image."""
        import wandb

        from src.plotting import map_to_rgb

        radii = list(range(len(self.curves[-1]["accuracy"])))
        keys = [k for k in self.curves[-1] if k != "epoch"]
        plots = {
            f"sens_radial/{k}": wandb.plot.line_series(
                xs=radii, ys=[c[k] for c in self.curves], keys=[f"epoch {c['epoch']}" for c in self.curves],
                title=f"{k}: radial profile per epoch", xname="radius (px)",
            )
            for k in keys
        }  # fmt: skip
        images = {}
        for layer in self.layers:
            m = result.class_mean(layer, "cosine").numpy()
            lo = min(0.0, float(m.min()))  # cosines of logits can be negative
            images[f"sens_maps/{layer}"] = wandb.Image(
                map_to_rgb(m, lo, 1.0), caption=f"epoch {result.meta.get('epoch')}: {layer} cosine, class mean, "
                f"x: dx, y: dy, colour {lo:.2f} (dark) to 1 (bright)",
            )  # fmt: skip
        return plots | images

    def state_dict(self) -> dict:
        return {"curves": self.curves}

    def load_state_dict(self, state_dict: dict) -> None:
        self.curves = list(state_dict.get("curves", []))
