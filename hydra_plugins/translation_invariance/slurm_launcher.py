"""Hydra launchers for SLURM (via submitit) that behave as a sweep of this project should.

- Finished jobs are not submitted again: a rerun of a 36-job sweep with one job left queues one job, not 36 jobs
  that each hold an allocation to print "skipping".
- A job cancelled (`scancel`), timed out or killed on the cluster is reported like any failed job (its run folder's
  summary says what happened; src.sweep_report lists it and the sweep exits 1), instead of crashing the submitting
  process with submitit's UncompletedJobError while the other jobs still run.

conf/hydra/launcher/slurm.yaml (GPU nodes) and slurm_cpu.yaml (CPU-only nodes) select it; it lives here because
Hydra instantiates launchers only from the `hydra_plugins` namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SubmititSlurm

from hydra_plugins.translation_invariance.submitit_adapter import tolerant_results
from src.hydra_adapter import job_dir

log = logging.getLogger(__name__)


def finished(run: Path, records: str | None = None) -> bool:
    """The job is recorded in `records` (src/records.py: src.train skips it), or its run completed and its selected
    checkpoint is there and is the one its summary names."""
    from src.records import recorded
    from src.runs import RunRecord

    return bool(records and recorded(Path(records) / run.name)) or RunRecord.read(run).finished()


class SlurmLauncher(_SubmititSlurm):
    """hydra-submitit-launcher's SLURM launcher, with finished jobs filtered out before submission and
    uncompleted jobs reported instead of raised."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        todo = [o for o in job_overrides if not finished(job_dir(self.config, o), self.config.get("records"))]
        skipped = len(job_overrides) - len(todo)
        if skipped:
            log.info(f"{skipped} of {len(job_overrides)} jobs already completed: not submitted again")
        if not todo:
            return []
        with tolerant_results():
            return super().launch(todo, initial_job_idx)
