"""Nothing finished is lost or redone; a crash never leaves a result that looks complete."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from src.errors import UserError
from src.runs import RunRecord
from src.sensitivity import SensitivityResult
from src.sweep_report import sweep_status
from src.train import train
from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parent.parent
QUIET = ["logger=csv", "trainer.enable_progress_bar=false", "max_shift=2"]


def cli(*args, cwd):
    return [sys.executable, "-m", "src.train", *args], {"cwd": cwd, "env": cli_env()}


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


UNINTERRUPTED = ["dataset=synthetic", "max_epochs=3", "stop_train_accuracy=1.0", *QUIET]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: the killed runs' command, never interrupted (loggers do not change what is trained)."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    cmd, kw = cli(*UNINTERRUPTED, "hydra.run.dir=whole", cwd=cwd)
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return cwd / "whole"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_training_resumes_to_the_same_result(tmp_path, sig, uninterrupted):
    job = UNINTERRUPTED
    if sig == signal.SIGTERM:  # with W&B too: the resumed run's offline folder must continue the first one's steps
        job = [*(j for j in job if j != "logger=csv"), "trainer.log_every_n_steps=5"]
    cmd, kw = cli(*job, "hydra.run.dir=killed", cwd=tmp_path)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    while not last.is_file() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)  # after epoch 0's checkpoint, during epoch 1
    proc.wait()
    assert proc.returncode != 0  # a cluster's pre-emption must not look like success
    status = summary(tmp_path / "killed")["status"]
    assert status == ("interrupted" if sig == signal.SIGTERM else "running")  # SIGKILL leaves no time to say so
    subprocess.run(cmd, check=True, capture_output=True, **kw)  # the same command again
    a, b = summary(uninterrupted), summary(tmp_path / "killed")
    assert b["status"] == "completed" and b["resumed_from"].endswith("last.ckpt")
    assert a["history"] == b["history"] and a["test_acc"] == b["test_acc"]  # exact on CPU
    ma = SensitivityResult.load(uninterrupted / "sensitivity_epochs" / "epoch=002.pt")
    mb = SensitivityResult.load(tmp_path / "killed" / "sensitivity_epochs" / "epoch=002.pt")
    assert torch.equal(ma.maps["fc"]["cosine"], mb.maps["fc"]["cosine"])
    import csv

    with open(tmp_path / "killed" / "metrics.csv") as f:  # the resume kept epoch 0's rows
        epochs = {row["epoch"] for row in csv.DictReader(f) if row.get("val/acc")}
    assert epochs == {"0", "1", "2"}
    if sig == signal.SIGTERM:
        from src.wandb_log import history, offline_folders

        first, second = (history(f) for f in offline_folders(tmp_path / "killed", b["wandb_id"]))
        assert min(r["_step"] for r in second) > max(r["_step"] for r in first)  # a sync appends them as one run
        assert {r["epoch"] for r in first + second if "val/acc" in r} == {0, 1, 2}


@pytest.mark.slow
def test_same_seed_same_results(train_cfg, tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = train_cfg("max_epochs=2", "max_shift=2", "stop_train_accuracy=1.0")
        cfg.paths.output_dir = str(tmp_path / name)
        runs.append(train(cfg))
    assert runs[0]["history"] == runs[1]["history"] and runs[0]["test_acc"] == runs[1]["test_acc"]
    maps = [SensitivityResult.load(tmp_path / n / "sensitivity_epochs" / "epoch=001.pt") for n in "ab"]
    for layer in ("conv", "fc"):
        assert torch.equal(maps[0].maps[layer]["cosine"], maps[1].maps[layer]["cosine"])


def test_divergence_fails_the_job_and_produces_no_maps(train_cfg):
    cfg = train_cfg("lr=1e30", "max_epochs=2", "max_shift=2")
    with pytest.raises(UserError, match="diverged"):
        train(cfg)
    run = Path(cfg.paths.output_dir)
    s = summary(run)
    assert s["status"] == "failed" and "diverged" in s["error"]
    assert not (run / "sensitivity_epochs").exists()
    assert not RunRecord.read(run).completed


def test_truncated_last_checkpoint_is_set_aside(tmp_path):
    from src.train import resume_point

    last = tmp_path / "last.ckpt"
    last.write_bytes(b"PK\x03\x04 truncated")
    assert not resume_point(last).is_file() and (tmp_path / "last.corrupt").is_file()


def test_corrupt_summary_counts_as_missing(tmp_path):
    (tmp_path / "summary.json").write_text('{"status": "comp')
    assert not RunRecord.read(tmp_path).completed
    done, failed = sweep_status(tmp_path.parent)
    assert any("corrupt or truncated" in f for f in failed)


@pytest.mark.slow
def test_sweep_goes_on_after_a_failed_job_reports_it_and_resumes(tmp_path):
    cmd, kw = cli("-m", "dataset=synthetic", "lr=0.001,1e30", "max_epochs=1", *QUIET, "hydra.sweep.dir=s", cwd=tmp_path)
    foreign = tmp_path / "s" / "lr=0.5"  # a job of another multirun into the same folder: not this sweep's
    foreign.mkdir(parents=True)
    (foreign / "summary.json").write_text('{"status": "failed", "error": "not ours"}')
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 1
    assert "1 completed, 1 failed" in proc.stdout and "not ours" not in proc.stderr
    assert "FAILED" in proc.stderr and "lr=1e+30" in proc.stderr and "diverged" in proc.stderr
    good = next((tmp_path / "s").glob("*lr=0.001*"))
    before = summary(good)["finished_at"]
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # rerun: the completed job is skipped
    assert summary(good)["finished_at"] == before and "skipping" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["parallel", "slurm_local"])
def test_launchers_run_two_jobs(tmp_path, launcher):
    cmd, kw = cli(
        "-m", f"hydra/launcher={launcher}", "dataset=synthetic", "kernel=3,5", "max_epochs=1", "threads=1",
        *QUIET, "hydra.sweep.dir=s", cwd=tmp_path,
    )  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [summary(p.parent) for p in sorted((tmp_path / "s").glob("*/summary.json"))]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[0]["pid"] != runs[1]["pid"]
    if launcher == "parallel":  # joblib: the two jobs overlap in time
        assert runs[0]["started_at"] < runs[1]["finished_at"] and runs[1]["started_at"] < runs[0]["finished_at"]


@pytest.mark.slow
def test_sigterm_stops_a_sweep_with_a_non_zero_exit_and_an_interrupted_job(tmp_path):
    cmd, kw = cli("-m", "dataset=synthetic", "seed=0,1", "max_epochs=30", "stop_train_accuracy=1.0", *QUIET,
                  "hydra.sweep.dir=s", cwd=tmp_path)  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    while not list((tmp_path / "s").glob("*seed=0*/checkpoints/last.ckpt")) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 143
    assert [summary(p.parent)["status"] for p in (tmp_path / "s").glob("*/summary.json")] == ["interrupted"]
