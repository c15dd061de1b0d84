"""One builder for every network: a model config (its `_target_` and keys, a `conf/model/` file) plus facts of the run
and data.

Train, evaluate and the figure pipeline all build networks here, so a new architecture or layer option is one YAML
file plus one class. The config is complete: a run trained before an option existed is completed with that option's
default by the run record (`src.conf.completed_config`), not here.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from torch import nn


def build_model(model_cfg: dict | DictConfig, data: Any, kernel: int, padding: str) -> nn.Module:
    """The network of `model_cfg` for the data of `data` (a PaddedDataModule: family, channels, size, classes)."""
    import hydra

    shape = {"in_channels": data.info.in_channels, "image_size": data.image_size, "num_classes": data.num_classes}
    return hydra.utils.instantiate(model_cfg, family=data.info.family, kernel=kernel, padding=padding, **shape)
