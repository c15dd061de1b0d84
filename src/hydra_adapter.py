"""The one place that uses Hydra's internals (hydra._internal): how a multirun names its job folders and expands its
sweep. Hydra has no public API for either; `tests/test_cli.py` pins both to what a real multirun does, so a Hydra
upgrade that moves them fails one test here instead of silently misnaming jobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig


def job_dirname(config: DictConfig, overrides: Sequence[str]) -> str:
    """The folder name Hydra gives a job with these overrides (hydra.job.override_dirname, e.g. kernel=3,seed=0)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    c = config.hydra.job.config.override_dirname
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return get_overrides_dirname(parsed, list(c.exclude_keys), c.item_sep, c.kv_sep)


def job_dir(config: DictConfig, overrides: Sequence[str]) -> Path:
    """The run folder of the job with these overrides: sweep dir / job_dirname."""
    return Path(str(config.hydra.sweep.dir)) / job_dirname(config, overrides)


def sweep_jobs(task_overrides: Sequence[str]) -> list[list[str]]:
    """Every job's overrides of a basic-sweeper multirun (`kernel=3,5 seed=0,1` -> four lists), in Hydra's order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
