"""The one place that reaches into hydra-submitit-launcher: its launch() waits on each job's `results()` and lets
submitit's UncompletedJobError (a job cancelled, timed out or killed) crash the submitting process while the other
jobs still run. It has no hook for that, so for the duration of one launch `AutoExecutor.map_array` returns jobs
whose results() never raise. `tests/test_layout.py` pins that the plugin still calls `executor.map_array` and then
`results()`, so an upgrade that changes this fails there instead of silently losing the tolerance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger(__name__)


class _Tolerant:
    """A submitit job whose results() never raises: a job that ended without a result (cancelled, timed out,
    killed) becomes a completed Hydra return of None, logged, like a job whose training failed."""

    def __init__(self, job, overrides: Sequence[str]) -> None:
        self.job, self.overrides = job, list(overrides)

    def results(self) -> list[JobReturn]:
        try:
            return self.job.results()
        except Exception as e:  # submitit's UncompletedJobError, FailedJobError, ...
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            log.error(f"SLURM job {self.job.job_id} ({' '.join(self.overrides)}) ended without a result: {first}")
            ret = JobReturn(overrides=self.overrides, status=JobStatus.COMPLETED)
            ret.return_value = None
            return [ret]


@contextmanager
def tolerant_results() -> Iterator[None]:
    """Within the block, submitit.AutoExecutor.map_array returns _Tolerant jobs; restored after, even on error."""
    import submitit

    original = submitit.AutoExecutor.map_array

    def map_array(executor, fn, *iterables):  # the plugin waits on each job's results() in turn
        jobs = original(executor, fn, *iterables)
        return [_Tolerant(job, overrides) for job, overrides in zip(jobs, iterables[0], strict=True)]

    submitit.AutoExecutor.map_array = map_array
    try:
        yield
    finally:
        submitit.AutoExecutor.map_array = original
