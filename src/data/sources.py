"""Raw datasets as uint8 tensors (N, C, H, W) and int64 labels (N,), read from files on disk.

torchvision reads MNIST and downloads MNIST / CIFAR-10 when online; CIFAR-10's python pickles are read here
directly so that small files in the same format (used by the tests) load too (torchvision checks their md5s).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch

from src.errors import DataError

Arrays = tuple[torch.Tensor, torch.Tensor]

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def _require_dir(root: Path) -> None:
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"data_dir={root} {what}: create it, or point paths.data_dir (or $DATA_DIR) at the folder holding the data"
        )


def _download_failed(name: str, root: Path, expected: str, err: Exception | None) -> DataError:
    why = f" (download failed: {err.__class__.__name__})" if err is not None else " (download=false)"
    return DataError(
        f"{name} not found in data_dir={root}{why}: expected {expected}; "
        "put the files there or set paths.data_dir (or $DATA_DIR) to where they are"
    )


def read_idx(path: Path, kind: str) -> torch.Tensor:
    """One MNIST IDX file (or its .gz) as uint8: images (N, 28, 28) for kind "images", labels (N,) for "labels".

    The header (magic number, counts, sizes) is checked against the file's length, so a damaged or truncated file
    is a DataError naming it and what is wrong, never a silent run on part of the data.
    """

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # includes gzip's BadGzipFile and a truncated stream
        raise DataError(f"{path} cannot be read ({type(e).__name__}: {e})") from e
    magic, dims = (2051, 3) if kind == "images" else (2049, 1)
    if len(data) < 4 + 4 * dims or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path} is not an MNIST {kind} file: its header lacks the magic number {magic}")
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    expected = 4 + 4 * dims + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{path} is damaged: its header promises {expected} bytes ({shape}), the file has {len(data)}")
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).view(*shape)


def _mnist_file(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dataset(root: str | Path, download: bool, folder: str, torchvision_class: str) -> tuple[Arrays, Arrays]:
    """((train_x, train_y), (test_x, test_y)) with x uint8 (N, 1, 28, 28), from `root`/`folder`/raw (the four IDX
    files, or their .gz): torchvision's layout for MNIST and FashionMNIST, whose class downloads them when allowed."""
    root = Path(root)
    _require_dir(root)
    raw = root / folder / "raw"
    expected = f"{raw}/{{{','.join(MNIST_FILES)}}}[.gz]"
    if any(_mnist_file(raw, name) is None for name in MNIST_FILES):
        if not download:
            raise _download_failed(folder, root, expected, None)
        try:
            import torchvision.datasets

            for train in (True, False):
                getattr(torchvision.datasets, torchvision_class)(root=str(root), train=train, download=True)
        except Exception as e:  # offline: URLError, socket errors, ...
            raise _download_failed(folder, root, expected, e) from e
    splits = []
    for prefix in ("train", "t10k"):
        images_path = _mnist_file(raw, f"{prefix}-images-idx3-ubyte")
        labels_path = _mnist_file(raw, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path, "images"), read_idx(labels_path, "labels")
        if len(images) != len(labels):
            raise DataError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
        if int(labels.max()) > 9:
            raise DataError(f"{labels_path} holds label {int(labels.max())}: {folder} labels are 0-9")
        splits.append((images.unsqueeze(1).contiguous(), labels.long()))
    return splits[0], splits[1]


def load_mnist(root: str | Path, download: bool) -> tuple[Arrays, Arrays]:
    """MNIST from `root`/MNIST/raw (see load_idx_dataset)."""
    return load_idx_dataset(root, download, "MNIST", "MNIST")


def load_fashion_mnist(root: str | Path, download: bool) -> tuple[Arrays, Arrays]:
    """Fashion-MNIST (Zalando; MNIST's format and size, 10 clothing classes) from `root`/FashionMNIST/raw."""
    return load_idx_dataset(root, download, "FashionMNIST", "FashionMNIST")


def read_cifar10_batch(path: Path) -> Arrays:
    """One CIFAR-10 python batch file -> (uint8 (N, 3, 32, 32), int64 (N,))."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as e:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({e.__class__.__name__}: {e})") from e
    if len(data) != len(labels):
        raise DataError(f"{path} holds {len(data)} images but {len(labels)} labels")
    if len(labels) and not 0 <= labels.min() <= labels.max() <= 9:
        raise DataError(f"{path} holds labels outside 0-9 (min {labels.min()}, max {labels.max()})")
    return torch.from_numpy(data.copy()), torch.from_numpy(labels)


def load_cifar10(root: str | Path, download: bool) -> tuple[Arrays, Arrays]:
    """((train_x, train_y), (test_x, test_y)) with x uint8 (N, 3, 32, 32), from `root`/cifar-10-batches-py."""
    root = Path(root)
    _require_dir(root)
    folder = root / "cifar-10-batches-py"
    missing = [f for f in CIFAR10_FILES if not (folder / f).is_file()]
    if missing:
        expected = f"{folder}/{{{','.join(CIFAR10_FILES)}}}"
        if not download:
            raise _download_failed("CIFAR-10", root, expected, None)
        try:
            from torchvision.datasets import CIFAR10

            CIFAR10(root=str(root), train=True, download=True)
        except Exception as e:
            raise _download_failed("CIFAR-10", root, expected, e) from e
    train = [read_cifar10_batch(folder / f) for f in CIFAR10_FILES[:5]]
    test = read_cifar10_batch(folder / "test_batch")
    return (torch.cat([x for x, _ in train]), torch.cat([y for _, y in train])), test
