"""The command line as a user runs it (each test is a subprocess: ~4 s of imports, so they are few)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_python

ROOT = Path(__file__).resolve().parent.parent
DATASET_CONFIGS = [p.stem for p in (ROOT / "conf" / "dataset").glob("*.yaml")]  # the options a user can name


# One case per way a command refuses its settings (the messages of every setting are tested in-process, in
# tests/test_train.py::test_bad_settings_are_refused): a config group choice, before the stack is imported; a value,
# by train.check_config.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("kernel=abc", "error: kernel='abc' is not allowed"),
        ("dataset=foo", f"error: dataset='foo' is not allowed: use one of {sorted(DATASET_CONFIGS)}"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, override, message):
    proc = run_python("-m", "src.train", override, "logger=csv", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[-1].startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_multirun_over_kernels_leaves_one_summary_per_job(tmp_path):
    proc = run_python(
        "-m", "src.train", "-m", "kernel=3,5", "seed=0", "dataset=synthetic", "max_epochs=2",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=5", "hydra.sweep.dir=sweep", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep" in proc.stdout and ": 2 jobs" in proc.stdout and "[2/2] done" in proc.stdout  # progress i/N
    summaries = sorted((tmp_path / "sweep").glob("*/summary.json"))
    names = [p.parent.name for p in summaries]
    assert names == [f"dataset=synthetic,kernel={k},max_epochs=2,seed=0,trainer.log_every_n_steps=5" for k in (3, 5)]
    for p in summaries:
        s = json.loads(p.read_text())
        assert s["status"] == "completed" and s["epochs"] == 2
        assert (p.parent / "wandb").is_dir()  # the offline W&B run of this job
    runs = {s.parent.parent.name for s in (tmp_path / "sweep").glob("*/wandb/offline-run-*")}
    assert len(runs) == 2  # each job finished its own W&B run
    # src.evaluate logs the test-set maps as its own W&B run (job type evaluate) beside the training's
    job = next((tmp_path / "sweep").glob("*kernel=3*"))
    # job directories contain '=' and ',': Hydra needs the value quoted
    proc = run_python("-m", "src.evaluate", f"run_dir='{job}'", "images_per_class=1", "max_shift=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wandb_id = json.loads((job / "summary.json").read_text())["wandb_id"]
    assert len(list((job / "wandb").glob("offline-run-*"))) == 2
    check_offline_wandb_records(job, wandb_id)
    table = (tmp_path / "sweep" / "results.csv").read_text().splitlines()
    assert table[0].startswith(
        "dataset,kernel,max_epochs,seed,trainer.log_every_n_steps,status,meets_criterion,epochs,"
    )
    assert [row.split(",")[1] for row in table[1:]] == ["3", "5"]  # one row per job, its swept kernel


def check_offline_wandb_records(job, wandb_id: str) -> None:
    """What W&B will show, read back from the offline run files of a training and its later evaluation."""
    from src.wandb_adapter import read_records
    from src.wandb_log import history, offline_folders

    [train_folder] = offline_folders(job, wandb_id)
    [eval_folder] = [f for f in (job / "wandb").glob("offline-run-*") if f != train_folder]

    def records(folder, kind):
        return [
            getattr(r, kind)
            for p in folder.glob("*.wandb")
            for r in read_records(p)
            if r.WhichOneof("record_type") == kind
        ]

    train_run, eval_run = records(train_folder, "run")[0], records(eval_folder, "run")[0]
    assert (train_run.run_group, train_run.job_type) == ("train/sweep", "train")  # one group per sweep folder
    assert (eval_run.run_group, eval_run.job_type) == ("train/sweep", "evaluate")
    assert train_run.display_name == "synthetic-k3-same-lr0.001-s0" and eval_run.run_id != wandb_id
    assert eval_run.display_name == "synthetic-k3-same-lr0.001-s0-test"
    config = {item.key: json.loads(item.value_json) for item in eval_run.config.update}
    assert config["evaluation"]["trained_run"] == wandb_id and config["kernel"] == 3  # points back to its training
    rows = history(train_folder)
    epochs = [r for r in rows if "radial_val/_type" in r]  # media are stored as flat keys: <key>/<field>
    assert [r["epoch"] for r in epochs] == [0, 1]  # tables and maps in the epoch's own row, labelled
    assert all("val/acc" in r and r["sens_maps/conv/_type"] == "image-file" for r in epochs)
    assert epochs[0]["radial_val/ncols"] == 11 and epochs[1]["radial_val/nrows"] > epochs[0]["radial_val/nrows"]
    assert any("train/loss_step" in r for r in rows)  # the loss within epochs
    steps = [r["_step"] for r in rows]
    later = history(eval_folder)
    assert steps == sorted(steps) and later[0]["_step"] == 0
    assert later[0]["radial_test/_type"] == "table-file" and "test_maps/fc/_type" in later[0]
    models = [a for a in records(train_folder, "artifact") if a.type == "model"]
    assert [m.name for m in models] == [f"model-{wandb_id}"]  # the selected checkpoint only, not last.ckpt


@pytest.mark.slow
def test_evaluate_without_run_dir_is_one_line(tmp_path):
    proc = run_python("-m", "src.evaluate", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == "error: run_dir is required: python -m src.evaluate run_dir=<a run directory or a folder of runs>"
    )


def test_help_lists_only_the_groups_of_its_entry_point():
    from src.cli import entry_point_help

    train, evaluate = entry_point_help("train"), entry_point_help("evaluate")
    datasets = ", ".join(f"[{d}]" if d == "mnist" else d for d in sorted(DATASET_CONFIGS))
    assert f"  dataset: {datasets}" in train and "  trainer: cpu, ddp, [default], gpu" in train
    assert "dataset:" not in evaluate.split("Settings")[0] and "Config groups: none" in evaluate
    presets = sorted(p.stem for p in (ROOT / "conf" / "preset").glob("*.yaml"))
    assert "  preset: " + ", ".join(f"[{p}]" if p == "quick" else p for p in presets) in entry_point_help("reproduce")


@pytest.mark.slow
def test_tab_completion_of_the_script_form(tmp_path):
    """Hydra's bash completion needs `python src/train.py` (it reads the script's path from the command line)."""
    line = "python src/train.py dataset="
    proc = subprocess.run(
        [sys.executable, "src/train.py", "-sc", "query=bash"], cwd=ROOT, capture_output=True, text=True,
        env=cli_env(COMP_LINE=line, COMP_POINT=str(len(line))),
    )  # fmt: skip
    assert proc.stdout.split() == [f"dataset={d}" for d in sorted(DATASET_CONFIGS)], proc.stderr


def test_a_key_with_a_top_level_setting_is_refused_in_one_line():
    from src.cli import check_group_choices
    from src.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^trainer.max_epochs is set by max_epochs: write max_epochs=3 instead$"):
        check_group_choices(["trainer.max_epochs=3"])
    check_group_choices(["max_epochs=3", "kernel=3,4"])  # the top-level spellings pass


def test_unknown_keys_are_one_line():
    from src.cli import check_known_keys
    from src.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^kernal is not a setting of src.train: see python -m src.train --help"):
        check_known_keys("train", ["kernal=3"])
    with pytest.raises(ConfigError, match=r"^dataset.val_siz is not a setting"):
        check_known_keys("train", ["dataset=cifar10", "dataset.val_siz=3"])
    check_known_keys("train", ["-m", "kernel=3,4", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "+new=1"])
    check_known_keys("reproduce", ["figure=5", "preset=seeds3", "extra_overrides=[threads=1]"])


def test_a_slurm_launcher_without_slurm_is_one_line(monkeypatch):
    import shutil

    from src.cli import check_group_choices
    from src.errors import ConfigError
    from src.reproduce import launcher_overrides

    monkeypatch.setattr(shutil, "which", lambda name: None)  # a laptop: no SLURM client
    for launcher in ("slurm", "slurm_cpu"):
        with pytest.raises(ConfigError, match=f"launcher {launcher} submits with SLURM, but sbatch is not"):
            check_group_choices([f"hydra/launcher={launcher}", "kernel=3"])
        with pytest.raises(ConfigError, match="sbatch is not on this machine's PATH"):
            launcher_overrides(launcher)
    check_group_choices(["hydra/launcher=parallel"])  # a local launcher needs nothing


def test_the_parallel_launcher_shares_the_cores_among_the_jobs_it_runs(monkeypatch):
    """One job (a widening step) gets every core; as many jobs as cores get one each; never more jobs than cores."""
    import os

    from src.reproduce import launcher_overrides

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert launcher_overrides("parallel", 1)[1:] == ["hydra.launcher.n_jobs=1", "threads=4"]
    assert launcher_overrides("parallel", 2)[1:] == ["hydra.launcher.n_jobs=2", "threads=2"]
    assert launcher_overrides("parallel", 12)[1:] == ["hydra.launcher.n_jobs=4", "threads=1"]
    assert launcher_overrides("parallel")[1:] == ["hydra.launcher.n_jobs=4", "threads=1"]
    assert launcher_overrides(None, 1) == []


def test_the_hydra_adapter_names_jobs_as_a_multirun_does():
    """Pinned to Hydra's behaviour (src/hydra_adapter.py owns its internals): the sweep expands in Hydra's order, and
    a job's folder name leaves out the excluded keys (threads, tags, records, ...) as Hydra's own job folders do."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.conf import CONF_DIR
    from src.hydra_adapter import job_dirname, sweep_jobs

    jobs = sweep_jobs(["kernel=3,5", "seed=0,1", "threads=1"])
    assert jobs == [["kernel=3", "seed=0", "threads=1"], ["kernel=3", "seed=1", "threads=1"],
                    ["kernel=5", "seed=0", "threads=1"], ["kernel=5", "seed=1", "threads=1"]]  # fmt: skip
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[], return_hydra_config=True)
    assert job_dirname(cfg, ["seed=1", "kernel=5", "threads=1", "records=/r", "lr=0.002"]) == "kernel=5,lr=0.002,seed=1"
