"""conf/ read as data, outside a Hydra composition: its dataset and model files are the registries.

The library (src/data, src/models, src/sensitivity) never reads conf/: it takes complete settings. Entry points,
the run record (src/runs.py: a run saved by an earlier version is completed here) and tests look names up here.
Files are read once per process (a sweep scan reads many summaries).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
DEFAULT_MODEL = "standard_cnn"  # what every run trained before conf/model/ existed was
# Config groups added after runs were first written -> the choice (its file) every run written before them used
ADDED_GROUPS = {"optimizer": "adam"}  # conf/optimizer/ since c6a8430; Adam was the only optimizer before


@cache
def _load(path: Path) -> DictConfig:
    return OmegaConf.load(path)


def dataset_files() -> dict[str, Path]:
    """name -> conf/dataset/<name>.yaml of every registered dataset (a file giving `info` and `loader`)."""
    files = sorted((CONF_DIR / "dataset").glob("*.yaml"))
    return {p.stem: p for p in files if {"info", "loader"} <= set(_load(p))}


def dataset_entry(name: str) -> tuple[dict, dict]:
    """(info, loader config) of a registered dataset, from its conf/dataset/ file: the one registry, which built-in
    and new datasets join alike; a ConfigError naming the registered ones for any other name."""
    files = dataset_files()
    if name not in files:
        raise ConfigError(
            f"dataset={name!r} is not allowed: use one of {sorted(files)} (conf/dataset/), or give dataset.info "
            "and dataset.loader"
        )
    cfg = _load(files[name])
    return OmegaConf.to_container(cfg.info), OmegaConf.to_container(cfg.loader)


def experiment_settings(name: str) -> dict:
    """What conf/experiment/<name>.yaml trains on, as data: {"dataset": its dataset's name (conf/train.yaml's
    default when it overrides none), "padding": same or none, "border": the dataset file's border, pixels}."""
    path = CONF_DIR / "experiment" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"experiment={name!r} is not allowed: no {path}")
    cfg, train = _load(path), _load(CONF_DIR / "train.yaml")
    chosen = [d["override /dataset"] for d in cfg.get("defaults", []) if "override /dataset" in d]
    dataset = chosen[-1] if chosen else next(d["dataset"] for d in train.defaults if "dataset" in d)
    padding = cfg.get("padding", train.padding)
    return {"dataset": dataset, "padding": padding, "border": _load(dataset_files()[dataset]).border}


def datamodule(name: str, **settings: Any):
    """A PaddedDataModule of a registered dataset (its info and loader from conf/dataset/<name>.yaml), with the
    module's defaults for every other setting; `settings` override them."""
    import hydra

    from src.data import PaddedDataModule

    info, loader = dataset_entry(name)
    return PaddedDataModule(name, info=info, loader=hydra.utils.instantiate(loader), **settings)


def model_config(stored: dict | DictConfig | None) -> DictConfig:
    """A run's model config completed with the defaults of its `conf/model/` file.

    `stored` is the `model` section of a run's resolved config; older runs have no `_target_` (they were the
    standard CNN) and keys that are no longer model options (channels_last, compile: now top-level settings).
    """
    stored = OmegaConf.create(dict(stored or {}))
    files = sorted((CONF_DIR / "model").glob("*.yaml"))
    same_target = [p for p in files if _load(p).get("_target_") == stored.get("_target_")]
    path = same_target[0] if same_target else CONF_DIR / "model" / f"{DEFAULT_MODEL}.yaml"
    defaults = _load(path)
    return OmegaConf.merge(defaults, {k: v for k, v in stored.items() if k in defaults})


def completed_config(config: dict) -> dict:
    """A run's stored config, completed for today's code: a config group added since (ADDED_GROUPS) with the choice
    it used, its model section with the defaults of its model file, and a dataset section saved before it carried
    `info` and `loader` given the registry's. Old and new runs of one computation then compare and merge."""
    added = {group: choice for group, choice in ADDED_GROUPS.items() if group not in config}
    out = {group: OmegaConf.to_container(_load(CONF_DIR / group / f"{choice}.yaml")) for group, choice in added.items()}
    out |= config
    # a training config (a partial dict in a hand-made summary stays as is)
    if "model" in out or "kernel" in out:
        out["model"] = OmegaConf.to_container(model_config(out.get("model")))
    dataset = out.get("dataset")
    registered = isinstance(dataset, dict) and dataset.get("name") in dataset_files()
    if registered and (dataset.get("info") is None or dataset.get("loader") is None):
        info, loader = dataset_entry(dataset["name"])
        out["dataset"] = {"info": info, "loader": loader} | {k: v for k, v in dataset.items() if v is not None}
    return out


def import_models() -> None:
    """Import the module of every model of conf/model/, so each one's measuring points are registered."""
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        target = _load(path).get("_target_")
        if target:
            importlib.import_module(target.rpartition(".")[0])
