import re

import numpy as np
import pytest
import torch

from src.conf import datamodule
from src.data import PaddedDataModule, balanced_subset
from src.errors import ConfigError, DataError
from tests.dataset_files import write_cifar10_batches


def test_synthetic_padded_images_and_splits():
    dm = datamodule("synthetic", val_size=500)  # 3000 + 1000 images (conf/dataset/synthetic.yaml)
    dm.setup()
    x, y = dm.train_set[list(range(len(dm.train_set)))]
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (2500, 500, 1000)
    assert x.shape[1:] == (1, 40, 40) and dm.image_size == 40
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.dtype == torch.float32
    border = torch.ones(40, 40, dtype=torch.bool)
    border[6:34, 6:34] = False
    assert torch.all(x[:, :, border] == 0)  # the 6-pixel zero border
    assert set(y.tolist()) == set(range(10))
    assert dm.fill_value == [0.0]


def test_split_seed_is_independent_of_the_model_seed():
    def val_labels(split_seed, model_seed):
        torch.manual_seed(model_seed)
        dm = datamodule("synthetic", val_size=500, split_seed=split_seed)
        dm.setup()
        return dm.val_set.labels

    assert torch.equal(val_labels(1, 0), val_labels(1, 99))
    assert not torch.equal(val_labels(1, 0), val_labels(2, 0))


def test_batches_are_whole_tensors():
    dm = datamodule("synthetic", val_size=500, batch_size=128)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (128, 1, 40, 40) and y.shape == (128,)
    assert sum(len(b[1]) for b in dm.val_dataloader()) == 500


def test_normalisation_pads_with_the_normalised_zero():
    dm = datamodule("synthetic", val_size=500, normalize={"mean": [0.5], "std": [0.25]})
    dm.setup()
    assert dm.fill_value == [-2.0]
    assert torch.all(dm.test_set.images[:, :, 0, :] == -2.0)


def test_real_mnist(mnist_root):
    dm = datamodule("mnist", data_dir=str(mnist_root), download=False)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (55_000, 5_000, 10_000)
    test_x, test_y = dm.test_set.images, dm.test_set.labels
    assert test_x.shape == (10_000, 1, 40, 40)
    assert int(test_y[0]) == 7
    assert torch.bincount(test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # pixel mean of the test set (/255) is 0.132515 on 28x28; padding to 40x40 scales it by 784/1600
    assert test_x.mean().item() == pytest.approx(0.132515 * 784 / 1600, abs=1e-5)
    all_train = torch.cat([dm.train_set.labels, dm.val_set.labels])
    assert torch.bincount(all_train).tolist()[:3] == [5923, 6742, 5958]


def _fake_cifar(root, n=60, test=20):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = np.arange(n) % 10
    write_cifar10_batches(root, images, labels, test_size=test)
    return images, labels


def test_cifar10_python_format(tmp_path):
    images, labels = _fake_cifar(tmp_path)
    dm = datamodule("cifar10", data_dir=str(tmp_path), download=False, val_size=10)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (30, 10, 20)
    assert dm.test_set.images.shape == (20, 3, 44, 44)
    expected = torch.from_numpy(images[40:]).float() / 255
    assert torch.allclose(dm.test_set.images[:, :, 6:38, 6:38], expected)
    assert dm.test_set.labels.tolist() == labels[40:].tolist()


def test_missing_data_is_one_clear_error(tmp_path):
    dm = datamodule("mnist", data_dir=str(tmp_path), download=False)
    with pytest.raises(DataError, match=r"MNIST not found in data_dir=.*train-images-idx3-ubyte"):
        dm.setup()
    dm = datamodule("cifar10", data_dir=str(tmp_path / "nope"), download=False)
    with pytest.raises(DataError, match=r"data_dir=.*nope does not exist"):
        dm.setup()
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"garbage")
    dm = datamodule("cifar10", data_dir=str(tmp_path), download=False)
    with pytest.raises(DataError, match="cifar-10-batches-py/{data_batch_1"):
        dm.setup()


def test_bad_dataset_name():
    from src.conf import dataset_files

    assert {"mnist", "fashion_mnist", "cifar10", "synthetic"} <= set(dataset_files())  # built-ins: files too
    with pytest.raises(
        ConfigError, match=rf"dataset='foo' is not allowed: use one of {re.escape(str(sorted(dataset_files())))}"
    ):
        datamodule("foo")


FASHION_CLASSES = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot"]  # fmt: skip


def test_fashion_mnist_reads_pads_and_splits_generated_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    train_px, test_px = rng.integers(1, 256, (60, 28, 28)), rng.integers(1, 256, (20, 28, 28))
    _write_idx(tmp_path, "train", 60, 60, sub="FashionMNIST", pixels=train_px)
    _write_idx(tmp_path, "t10k", 20, 20, sub="FashionMNIST", pixels=test_px)
    dm = datamodule("fashion_mnist", data_dir=str(tmp_path), download=False, val_size=10,
                          class_names=FASHION_CLASSES)  # fmt: skip
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (50, 10, 20)
    assert dm.test_set.images.shape == (20, 1, 40, 40) and dm.image_size == 40
    assert torch.allclose(dm.test_set.images[:, 0, 6:34, 6:34], torch.from_numpy(test_px).float() / 255)
    assert torch.all(dm.test_set.images[:, :, :6] == 0) and torch.all(dm.test_set.images[:, :, :, 34:] == 0)
    assert dm.class_names[9] == "ankle boot"
    # the same 55,000 / 5,000 split rule as MNIST: the split depends on split_seed alone
    mnist_like = datamodule("fashion_mnist", data_dir=str(tmp_path), download=False, val_size=10)
    mnist_like.setup()
    assert torch.equal(mnist_like.val_set.images, dm.val_set.images)


def test_fashion_mnist_missing_files_are_one_line(tmp_path):
    dm = datamodule("fashion_mnist", data_dir=str(tmp_path), download=False)
    with pytest.raises(DataError, match=r"FashionMNIST not found in data_dir=.*FashionMNIST/raw/\{train-images") as e:
        dm.setup()
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="dataset.class_names has 2 names"):
        datamodule("fashion_mnist", class_names=["a", "b"])


def test_real_fashion_mnist_when_present(mnist_root):
    if not (mnist_root / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"no FashionMNIST/raw in {mnist_root}")
    from src.data.sources import load_fashion_mnist

    (train_x, train_y), (test_x, test_y) = load_fashion_mnist(mnist_root, download=False)
    assert train_x.shape == (60000, 1, 28, 28) and test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(test_y).tolist() == [1000] * 10  # Fashion-MNIST's test set is balanced


def test_balanced_subset():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    idx = balanced_subset(labels, per_class=2, num_classes=3)
    assert torch.bincount(labels[idx]).tolist() == [2, 2, 2]
    assert torch.equal(idx, balanced_subset(labels, per_class=2, num_classes=3))


def _write_idx(folder, prefix, n_images, n_labels, truncate=0, magic=2051, sub="MNIST", pixels=None):
    raw = folder / sub / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images = magic.to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n_images, 28, 28))
    images += bytes(n_images * 784) if pixels is None else pixels.astype(np.uint8).tobytes()
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(images[: len(images) - truncate])
    labels = (2049).to_bytes(4, "big") + n_labels.to_bytes(4, "big") + bytes(i % 10 for i in range(n_labels))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(labels)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ({"magic": 1234}, r"train-images-idx3-ubyte is not an MNIST images file: its header lacks the magic number"),
        ({"truncate": 100}, r"train-images-idx3-ubyte is damaged: its header promises 7856 bytes .* the file has 7756"),
        ({"n_labels": 9}, r"train-images-idx3-ubyte holds 10 images but .*train-labels-idx1-ubyte 9 labels"),
    ],
    ids=["wrong_header", "truncated", "disagreeing_counts"],
)
def test_damaged_mnist_files_are_one_clear_error(tmp_path, damage, message):
    from src.data.sources import load_mnist

    _write_idx(tmp_path, "train", **({"n_images": 10, "n_labels": 10} | damage))
    _write_idx(tmp_path, "t10k", 10, 10)
    with pytest.raises(DataError, match=message) as err:
        load_mnist(tmp_path, download=False)
    assert "\n" not in str(err.value) and "not found" not in str(err.value)


def test_cifar10_batch_with_disagreeing_labels(tmp_path):
    import pickle

    _fake_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch[b"labels"] = batch[b"labels"][:-1]
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    dm = datamodule("cifar10", data_dir=str(tmp_path), download=False, val_size=10)
    with pytest.raises(DataError, match=r"data_batch_1 holds 8 images but 7 labels"):
        dm.setup()


def test_a_new_dataset_needs_only_its_config_and_a_loader():
    """What conf/dataset/<new>.yaml gives: `info` and a `loader` (a function of data_dir and download)."""

    def tiny(data_dir, download):
        x = torch.randint(0, 256, (60, 3, 16, 16), dtype=torch.uint8)
        return (x[:40], torch.arange(40) % 4), (x[40:], torch.arange(20) % 4)

    info = {"family": "cifar10", "in_channels": 3, "raw_size": 16, "num_classes": 4}
    dm = PaddedDataModule("tiny", val_size=8, info=info, loader=tiny, border=2)
    dm.setup()
    assert dm.image_size == 20 and dm.num_classes == 4 and dm.test_set.images.shape == (20, 3, 20, 20)
    with pytest.raises(ConfigError, match="dataset 'tiny' needs dataset.info and dataset.loader"):
        PaddedDataModule("tiny")
    with pytest.raises(ConfigError, match="or give dataset.info and dataset.loader"):
        datamodule("tiny")  # not a registered dataset


def test_translate_augmentation_moves_each_image_by_its_own_shift():
    from src.data.datamodule import random_translate
    from src.sensitivity import shift_images

    x = torch.rand(6, 2, 9, 9)
    out = random_translate(x, 3, [0.5, 0.1], torch.Generator().manual_seed(7))
    d = torch.randint(-3, 4, (2, 6), generator=torch.Generator().manual_seed(7))  # the same draws: dx row, dy row
    for i in range(6):
        assert torch.equal(out[i : i + 1], shift_images(x[i : i + 1], int(d[0, i]), int(d[1, i]), [0.5, 0.1]))
    assert torch.equal(out, random_translate(x, 3, [0.5, 0.1], torch.Generator().manual_seed(7)))  # reproducible
    with pytest.raises(ConfigError, match=r"augment.shift=9 is not allowed: an integer in 0..6"):
        datamodule("synthetic", augment_shift=9)


def test_a_new_dataset_from_config_alone(tmp_path):
    """conf/dataset/<new>.yaml's keys, given here as overrides: Hydra builds the loader as a partial function."""
    import hydra

    from tests.conftest import compose_config

    cfg = compose_config("train", [
        "dataset=synthetic", "dataset.name=sevenseg",
        "dataset.info={family: mnist, in_channels: 1, raw_size: 28, num_classes: 10}",
        "dataset.loader={_target_: src.data.synthetic.load_synthetic_digits, _partial_: true, sizes: [600, 100]}",
    ], tmp_path)  # fmt: skip
    dm = hydra.utils.instantiate(cfg.dataset)
    dm.setup()
    assert dm.name == "sevenseg" and len(dm.test_set) == 100 and dm.image_size == 40


def test_a_dataset_on_a_white_background_pads_and_shifts_with_white():
    """Inverted digits: the border and the pixels a shift vacates are the background (1), not a black frame."""
    from src.data.synthetic import load_synthetic_digits
    from src.sensitivity.shifts import shift_images

    def inverted(data_dir, download):
        (tx, ty), (vx, vy) = load_synthetic_digits(data_dir, download, (600, 200))
        return (255 - tx, ty), (255 - vx, vy)

    info = {"family": "mnist", "in_channels": 1, "raw_size": 28, "num_classes": 10, "background": 1.0}
    dm = PaddedDataModule("mnist_inverted", info=info, loader=inverted, val_size=100)
    dm.setup()
    x = dm.test_set.images[:4]
    assert torch.all(x[:, :, :6, :] == 1.0) and dm.fill_value == [1.0]
    shifted = shift_images(x, 6, 0, dm.fill_value)
    assert torch.all(shifted[:, :, :, :12] == 1.0)  # 6 px of border + 6 px vacated: all background
