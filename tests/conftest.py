"""Shared fixtures: Hydra configs composed with the compose API, and the real MNIST folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from src.conf import CONF_DIR

ROOT = Path(__file__).resolve().parent.parent

# pytest-xdist (`make test` runs one worker per core): each worker and the commands it starts get their share of the
# cores, so that two workers' torch thread pools do not fight over the same cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    import torch

    _THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
    torch.set_num_threads(_THREADS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))


# The files whose tests take longest (SLURM ~110 s, figures end to end, kill/resume: `make test` prints the slowest)
# run first: under `--dist loadfile` a worker left alone with one of them at the end idles the other cores.
LONGEST_FILES = ("test_records.py", "test_slurm.py", "test_reproduce.py", "test_reliability.py", "test_cli.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file is kept


def cli_env(**extra: str) -> dict:
    """The environment of a command-line test: this checkout importable, W&B offline, one-line Hydra errors."""
    return {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0", **extra, "PYTHONPATH": str(ROOT)}


def run_python(*args: str, cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python <args>` as a user runs it (e.g. "-m", "src.train", ...), output captured; the one subprocess helper
    of the suite (each call costs ~4 s of imports: keep them few)."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=cli_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def mnist_dir() -> Path | None:
    """$DATA_DIR, else ../shared/data beside the checkout, if it holds MNIST/raw."""
    for d in (os.environ.get("DATA_DIR"), ROOT.parent / "shared" / "data"):
        if d and (Path(d) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file():
            return Path(d)
    return None


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    d = mnist_dir()
    if d is None:
        pytest.skip("real MNIST not found: set DATA_DIR to a folder holding MNIST/raw")
    return d


def wandb_final_summary(folder: str | Path) -> dict:
    """The run summary W&B will show for one offline folder: its summary records applied in order."""
    import json

    from src.wandb_adapter import read_records

    summary: dict = {}
    for file in Path(folder).glob("run-*.wandb"):
        for rec in read_records(file):
            if rec.WhichOneof("record_type") == "summary":
                summary |= {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.summary.update}
    return summary


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/<config_name>.yaml as `python -m src.<entry> <overrides>` would, with output in output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            if "paths" in cfg:
                cfg.paths.output_dir = str(output_dir)
            del cfg.hydra
    return cfg


@pytest.fixture
def train_cfg(tmp_path):
    """A factory: train_cfg(*overrides) -> a synthetic-data, CSV-only, 1-epoch training config in tmp_path."""

    def make(*overrides: str) -> DictConfig:
        base = ["dataset=synthetic", "logger=csv", "max_epochs=1", "trainer.enable_progress_bar=false"]
        return compose_config("train", base + list(overrides), tmp_path / "run")

    return make


class SignalAt:
    """A Lightning callback for tests: sends `signum` to this process when batch 0 of `epoch` starts (the moment
    a scheduler's SIGTERM or a user's Ctrl-C lands in a real run), once."""

    def __new__(cls, epoch: int, signum: int):
        import lightning as L

        class _SignalAt(L.Callback):
            def __init__(self) -> None:
                self.sent = False

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
                if trainer.current_epoch == epoch and batch_idx == 0 and not self.sent:
                    self.sent = True
                    os.kill(os.getpid(), signum)

        return _SignalAt()
