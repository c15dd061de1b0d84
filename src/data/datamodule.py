"""LightningDataModule serving images padded with their background (zeros: the paper) as in-memory tensors.

Every image is scaled to [0, 1] and padded by `border` pixels (6 in the paper: MNIST 28 -> 40, CIFAR-10 32 -> 44)
with the dataset's background value (`DatasetInfo.background`: 0, the paper's zero padding, for every built-in), so
translation-sensitivity maps can shift content by up to `border` pixels without cutting it. The padding value is the
same fill value that shifts use later (`fill_value`): the background, or (background - mean) / std per channel when
`normalize` is set, because normalisation is applied after padding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from src.checks import is_integer
from src.errors import ConfigError


@dataclass(frozen=True)
class DatasetInfo:
    family: str  # which of the paper's architecture tables applies ("mnist" or "cifar10")
    in_channels: int
    raw_size: int  # side of the unpadded image, pixels
    num_classes: int
    # the images' background, as a pixel value in [0, 1]: the paper's zero padding and the pixels a shift vacates
    # take this value, so a shift moves the object over its own background (white for inverted digits)
    background: float = 0.0
    # whether the loader reads files below paths.data_dir (False: drawn in memory, as the synthetic digits are)
    reads_files: bool = True


class TensorBatches(Dataset):
    """Indexable by a list of indices, so a whole batch is one tensor gather (no per-sample Python in the loop)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx_t = torch.as_tensor(idx, device=self.labels.device)
        return self.images[idx_t], self.labels[idx_t]


class IndexBatches(Sampler[list[int]]):
    """Batches of indices: shuffled per epoch from (seed, epoch), or in order; with shard_by_rank, under DDP each
    process gets its share of every batch.

    Checkpoints hold no RNG state, so a seeded permutation per epoch is what makes a run resumed at an epoch boundary
    see exactly the batches of an uninterrupted run. The epoch comes from `epoch_source()` (the trainer's epoch;
    Lightning's own `set_epoch` call comes too late on a resumed run) or else from `set_epoch`.
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int = 0, epoch_source=None, shard_by_rank: bool = False
    ) -> None:
        self.n, self.batch_size, self.shuffle, self.seed, self.epoch = n, batch_size, shuffle, seed, 0
        self.epoch_source, self.shard_by_rank = epoch_source, shard_by_rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        # A generator: the epoch is read when the first batch is drawn, not when Lightning makes the iterator
        # (on a resumed run it makes it before restoring the epoch counter).
        if self.shuffle:
            epoch = self.epoch_source() if self.epoch_source else self.epoch
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        else:
            order = torch.arange(self.n)
        rank, world = _rank_and_world() if self.shard_by_rank else (0, 1)
        for batch in order.split(self.batch_size):
            # DDP: every process takes its share of each global batch, so a step sees the same batch_size images
            # (and the same ones) as one process does; a rank whose share is empty gets none of this batch.
            yield batch[rank::world] if world > 1 else batch


def _rank_and_world() -> tuple[int, int]:
    """(this process's rank, number of processes) under torch.distributed, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def random_translate(
    images: torch.Tensor, max_shift: int, fill: list[float], generator: torch.Generator
) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): each image moved by its own random integer (dx, dy) in [-m, m]^2, vacated
    pixels = fill (per channel), nothing wraps. One gather from a padded copy: no per-image Python."""
    b, c, h, w = images.shape
    m = max_shift
    f = torch.as_tensor(fill, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    padded = f.expand(b, c, h + 2 * m, w + 2 * m).clone()
    padded[:, :, m : m + h, m : m + w] = images
    d = torch.randint(-m, m + 1, (2, b), generator=generator).to(images.device)  # rows: dx, dy
    rows = torch.arange(h, device=images.device)[None, :] + m - d[1][:, None]  # (B, H): source row of each output
    cols = torch.arange(w, device=images.device)[None, :] + m - d[0][:, None]  # (B, W)
    batch, channel = torch.arange(b, device=images.device), torch.arange(c, device=images.device)
    return padded[
        batch[:, None, None, None], channel[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]
    ]


def pad_images(images: torch.Tensor, border: int, value: float = 0.0) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, H + 2 border, W + 2 border) in [0, 1], with a border of `value`."""
    return F.pad(images.float().div_(255.0), (border, border, border, border), value=value)


def balanced_subset(labels: torch.Tensor, per_class: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_class` random samples of each class (fewer if a class has fewer), sorted."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(num_classes):
        idx = torch.nonzero(labels.cpu() == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picks).sort().values


class PaddedDataModule(L.LightningDataModule):
    """MNIST or Fashion-MNIST (55,000 / 5,000 / 10,000), CIFAR-10 (45,000 / 5,000 / 10,000) or synthetic digits,
    padded with the dataset's background (0 for every built-in: the paper's zero padding).

    Args:
        name: the dataset's name (figures and run names say it).
        data_dir: folder holding MNIST/raw, FashionMNIST/raw or cifar-10-batches-py (unused when the dataset's
            `info.reads_files` is false).
        download: let torchvision download missing files (needs internet).
        border: padding with the dataset's background added on every side, pixels.
        val_size: images split off the official training set for validation.
        split_seed: seed of the train/validation split, independent of the model seed.
        batch_size: training batch size; evaluation uses `eval_batch_size`.
        normalize: None, or {"mean": [...], "std": [...]} per channel, applied after padding.
        keep_on_device: move the tensors to the training device once (a GPU holds MNIST easily).
        shuffle_seed: seed of the batch order (epoch e uses seed and e), so resumed runs repeat it exactly.
        info: {family, in_channels, raw_size, num_classes, background}: the dataset's facts (required).
        loader: a function (data_dir, download) -> ((train_x, train_y), (test_x, test_y)), uint8 images
            (N, C, raw_size, raw_size) and int64 labels (Hydra: `_partial_`) (required).
        class_names: a name per class label (figures title class maps with them); None: the label numbers.
        augment_shift: m > 0: training batches only, each image moved by a random integer shift in [-m, m]^2
            pixels (vacated pixels take the padding value), drawn from (shuffle_seed, step) so runs and resumed
            runs repeat it; 0: off (the paper).
        overfit_images: N > 0: train on the first N training images only and validate on the same N (debug=overfit;
            Lightning's own overfit_batches rebuilds the loaders and would lose the batch sampler).
    """

    def __init__(
        self,
        name: str = "mnist",
        data_dir: str = "data",
        download: bool = True,
        border: int = 6,
        val_size: int = 5000,
        split_seed: int = 12345,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        num_workers: int = 0,
        normalize: dict | None = None,
        keep_on_device: bool = True,
        shuffle_seed: int = 0,
        overfit_images: int = 0,
        augment_shift: int = 0,
        info: dict | None = None,
        loader: Callable | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        if border < 0:
            raise ConfigError(f"dataset.border={border} is not allowed: must be >= 0 pixels")
        if info is None or loader is None:
            raise ConfigError(
                f"dataset {name!r} needs dataset.info and dataset.loader (a conf/dataset/ file gives both; "
                "src.conf.datamodule(name) builds a registered dataset's module)"
            )
        self.name, self.info, self.loader = name, DatasetInfo(**info), loader
        self.data_dir, self.download, self.border = Path(data_dir).expanduser(), download, border
        self.val_size, self.split_seed = val_size, split_seed
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.normalize, self.keep_on_device = normalize, keep_on_device
        self.shuffle_seed, self.overfit_images = shuffle_seed, overfit_images
        if not is_integer(augment_shift) or not 0 <= augment_shift <= border:
            raise ConfigError(f"augment.shift={augment_shift!r} is not allowed: an integer in 0..{border} (the border)")
        self.augment_shift = augment_shift
        if class_names is not None and len(class_names) != self.info.num_classes:
            raise ConfigError(
                f"dataset.class_names has {len(class_names)} names: dataset {name} has {self.info.num_classes} classes"
            )
        self.class_names = list(class_names) if class_names is not None else None
        self.train_set = self.val_set = self.test_set = None

    # -- facts the model and the sensitivity measurement need -------------------------------------------------
    @property
    def image_size(self) -> int:
        return self.info.raw_size + 2 * self.border

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def fill_value(self) -> list[float]:
        """Per-channel value of the padding (and of pixels vacated by shifts)."""
        bg = self.info.background
        if not self.normalize:
            return [bg] * self.info.in_channels
        return [(bg - m) / s for m, s in zip(self.normalize["mean"], self.normalize["std"], strict=True)]

    # -- loading ---------------------------------------------------------------------------------------------
    def _raw(self):
        """The loader's (train, test) tensors, read once: `load_files` may have read them already."""
        raw, self._raw_files = getattr(self, "_raw_files", None), None  # handed over once, then not kept
        # options bound in config
        return raw if raw is not None else self.loader(self.data_dir, self.download)

    def load_files(self) -> None:
        """Read the dataset's files now (a missing or damaged file is a one-line error), kept for `setup`: a training
        finds out before it creates its W&B run or any record of itself."""
        if self.train_set is None and getattr(self, "_raw_files", None) is None:
            self._raw_files = self.loader(self.data_dir, self.download)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = pad_images(images, self.border, self.info.background)
        if self.normalize:
            mean = torch.tensor(self.normalize["mean"]).view(1, -1, 1, 1)
            std = torch.tensor(self.normalize["std"]).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        (train_x, train_y), (test_x, test_y) = self._raw()
        if not 0 < self.val_size < len(train_y):
            raise ConfigError(f"dataset.val_size={self.val_size} must be between 1 and {len(train_y) - 1}")
        perm = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = perm[: self.val_size], perm[self.val_size :]
        device = self._device()
        x_all = self._prepare(train_x).to(device)
        y_all = train_y.to(device)
        self.train_set = TensorBatches(x_all[train_idx.to(device)], y_all[train_idx.to(device)])
        self.val_set = TensorBatches(x_all[val_idx.to(device)], y_all[val_idx.to(device)])
        self.test_set = TensorBatches(self._prepare(test_x).to(device), test_y.to(device))
        if self.overfit_images:
            n = self.overfit_images
            self.train_set = self.val_set = TensorBatches(self.train_set.images[:n], self.train_set.labels[:n])

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        if self.keep_on_device and trainer is not None and self.num_workers == 0:
            return trainer.strategy.root_device
        return torch.device("cpu")

    def _trainer_epoch(self) -> int:
        trainer = getattr(self, "trainer", None)
        return trainer.current_epoch if trainer is not None else 0

    def _loader(self, ds: TensorBatches, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            ds,
            sampler=IndexBatches(
                len(ds), batch_size, shuffle, self.shuffle_seed, self._trainer_epoch, shard_by_rank=True
            ),
            batch_size=None,  # the sampler yields whole batches of indices
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        trainer = getattr(self, "trainer", None)
        if self.augment_shift and trainer is not None and trainer.training:
            x, y = batch
            g = torch.Generator().manual_seed(self.shuffle_seed * 1_000_003 + trainer.global_step)
            batch = (random_translate(x, self.augment_shift, self.fill_value, g), y)
        return batch

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, shuffle=False)
