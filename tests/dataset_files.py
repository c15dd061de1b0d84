"""Test data in the real formats of the datasets this machine lacks (CIFAR-10), written small."""

import pickle
from pathlib import Path

import numpy as np


def write_cifar10_batches(root: str | Path, images: np.ndarray, labels: np.ndarray, test_size: int) -> Path:
    """Write uint8 images (N, 3, 32, 32) and labels in the real CIFAR-10 python format (for tests and demos).

    The last `test_size` images become `test_batch`; the rest are split over `data_batch_1..5`.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    flat = images.reshape(len(images), -1).astype(np.uint8)
    train_idx = np.array_split(np.arange(len(images) - test_size), 5)
    parts = [(f"data_batch_{i + 1}", idx) for i, idx in enumerate(train_idx)]
    parts.append(("test_batch", np.arange(len(images) - test_size, len(images))))
    for name, idx in parts:
        batch = {b"batch_label": name.encode(), b"labels": labels[idx].tolist(), b"data": flat[idx]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": len(train_idx[0])}, f)
    return folder
