"""One builder for every network: a `conf/model/` config (its `_target_` and keys) plus facts of the run and data.

Train, evaluate and the figure pipeline all build networks here, so a new architecture or layer option is one YAML
file plus one class, and a run trained before an option existed gets that option's default when it is rebuilt.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from src.cli import CONF_DIR

DEFAULT_MODEL = "standard_cnn"


def model_config(stored: dict | DictConfig | None) -> DictConfig:
    """A run's model config completed with the defaults of its `conf/model/` file.

    `stored` is the `model` section of a run's resolved config; older runs have no `_target_` (they were the
    standard CNN) and keys that are no longer model options (channels_last, compile: now top-level settings).
    """
    stored = OmegaConf.create(dict(stored or {}))
    name = next((p.stem for p in (CONF_DIR / "model").glob("*.yaml")
                 if OmegaConf.load(p).get("_target_") == stored.get("_target_")), DEFAULT_MODEL)  # fmt: skip
    defaults = OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml")
    known = {k: v for k, v in stored.items() if k in defaults}
    return OmegaConf.merge(defaults, known)


def build_model(model_cfg: dict | DictConfig, data: Any, kernel: int, padding: str) -> nn.Module:
    """The network of `model_cfg` for the data of `data` (a PaddedDataModule: family, channels, size, classes)."""
    import hydra

    return hydra.utils.instantiate(
        model_config(model_cfg), family=data.info.family, in_channels=data.info.in_channels,
        image_size=data.image_size, kernel=kernel, padding=padding, num_classes=data.num_classes,
    )  # fmt: skip
