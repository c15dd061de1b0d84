"""The SLURM launcher on a real one-node cluster (../shared/tools/slurm/start_local_slurm.sh, which .ci/run starts):
a 2-job sweep, a rerun that submits nothing, a cancelled job reported as failed, and its resume. Skipped, with the
reason shown, where no cluster answers."""

import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, cli_env

pytestmark = pytest.mark.slow


def _cluster_ready() -> str | None:
    if not shutil.which("sbatch"):
        return "no SLURM client (sbatch) on this machine: start ../shared/tools/slurm/start_local_slurm.sh"
    probe = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=30)
    if probe.returncode or "up" not in probe.stdout:
        return f"SLURM does not answer (sinfo: {probe.stderr.strip() or probe.stdout.strip()})"
    return None


def _sweep(tmp_path, name, *args, **popen):
    cmd = [sys.executable, "-m", "src.train", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.timeout_min=10",
           "dataset=synthetic", "logger=csv", "trainer.enable_progress_bar=false",
           f"hydra.sweep.dir={tmp_path / name}", *args]  # fmt: skip
    env = cli_env()
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_sweep_rerun_cancel_and_resume_on_a_real_cluster(tmp_path):
    reason = _cluster_ready()
    if reason:
        pytest.skip(reason)
    first = _sweep(tmp_path, "s", "max_epochs=1", "kernel=3,5")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "2 completed, 0 failed" in first.stdout
    again = _sweep(tmp_path, "s", "max_epochs=1", "kernel=3,5")  # nothing is submitted twice
    assert again.returncode == 0 and "2 of 2 jobs already completed: not submitted again" in again.stdout + again.stderr

    job_args = ("max_epochs=4", "stop_train_accuracy=1.0", "kernel=3")  # 4 whole epochs: time to cancel it
    proc = _sweep(tmp_path, "c", *job_args, popen=True)
    job = None
    for _ in range(600):  # wait until the job has finished an epoch, then cancel it as a user would
        time.sleep(0.5)
        q = subprocess.run(["squeue", "-h", "-o", "%i %T %o"], capture_output=True, text=True).stdout.split("\n")
        job = job or next((line.split()[0] for line in q if "RUNNING" in line and str(tmp_path / "c") in line), None)
        if job and list((tmp_path / "c").glob("*/checkpoints/last.ckpt")):
            break
    assert job, "the job never started"
    subprocess.run(["scancel", job], check=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in out, out[-2000:]  # reported like any failed job
    assert "ended without a result" in out and "FAILED" in out
    resumed = _sweep(tmp_path, "c", *job_args)
    assert resumed.returncode == 0 and "1 completed, 0 failed" in resumed.stdout, resumed.stdout[-2000:]
