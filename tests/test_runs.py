"""The run directory: settings check, lock, damaged files, tolerant scans. In-process, synthetic data, seconds."""

import json
import shutil

import pytest
from omegaconf import OmegaConf

from src.errors import ConfigError, DataError
from src.evaluate import evaluate_run, main
from src.runs import find_runs, run_lock
from src.train import train
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "a"
    train(compose_config("train", ["dataset=synthetic", "logger=csv", "max_epochs=1", "max_shift=2"], run))
    return run


def _cfg(run, *extra):
    return compose_config(
        "train", ["dataset=synthetic", "logger=csv", "max_epochs=1", "max_shift=2", *extra], run
    )


def test_other_settings_in_the_same_directory_are_refused(done_run):
    with pytest.raises(ConfigError) as err:
        train(_cfg(done_run, "lr=0.002", "kernel=3"))
    msg = str(err.value)
    assert "holds a run with other settings (kernel: 5 -> 3, lr: 0.001 -> 0.002" in msg and "\n" not in msg
    assert (
        train(_cfg(done_run, "trainer.enable_progress_bar=false"))["status"] == "completed"
    )  # volatile: skip


def test_a_run_directory_in_use_is_refused(tmp_path):
    with run_lock(tmp_path / "busy"), pytest.raises(ConfigError, match="is in use by another process"):
        train(_cfg(tmp_path / "busy"))


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_line_for_evaluate_and_retrained_by_train(done_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(done_run, run)
    summary = json.loads((run / "summary.json").read_text())
    ckpt = run / "checkpoints" / summary["checkpoint"].split("/")[-1]
    (run / "summary.json").write_text(json.dumps(summary | {"checkpoint": str(ckpt)}))
    ckpt.write_bytes(b"PK\x03\x04 damaged")
    ecfg = OmegaConf.merge(
        compose_config("evaluate", [f"run_dir={run}", "max_shift=2", "images_per_class=4"], run),
        {"force": True},
    )
    with pytest.raises(DataError, match=f"{ckpt} is damaged") as err:
        evaluate_run(run, ecfg)
    assert "\n" not in str(err.value)
    again = train(_cfg(run))  # the same command recovers: it trains again instead of skipping
    assert again["status"] == "completed" and (run / "checkpoints" / "last.ckpt").is_file()
    assert list(run.glob("checkpoints.damaged-*"))


def test_evaluate_goes_on_past_a_damaged_run_and_reports_it(done_run, tmp_path, capsys):
    shutil.copytree(done_run, tmp_path / "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text('{"status": "compl')
    assert find_runs(tmp_path) == [tmp_path / "bad", tmp_path / "good"]
    cfg = compose_config("evaluate", [f"run_dir={tmp_path}", "images_per_class=1", "max_shift=2", "wandb=false"],
                         tmp_path)  # fmt: skip
    with pytest.raises(SystemExit) as ex:
        main(cfg)  # @hydra.main passes a given config straight through
    out = capsys.readouterr()
    assert ex.value.code == 2 and "1 of 2 runs could not be evaluated" in out.err
    assert (tmp_path / "good" / "sensitivity.pt").is_file()


def test_a_file_where_a_folder_is_expected(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        find_runs(tmp_path / "f")
    with pytest.raises(ConfigError, match="hydra.run.dir=.* is a file: give a folder"):
        train(_cfg(tmp_path / "f"))


def test_an_unreadable_selected_checkpoint_is_one_line(tmp_path, monkeypatch):
    import src.runs
    from src.runs import best_checkpoint

    ckpt = tmp_path / "checkpoints" / "best-000.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")

    def unreadable(path):  # what chmod 000 gives a user who is not root (CI and this machine run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(src.runs, "file_sha256", unreadable)
    with pytest.raises(
        DataError, match="best-000.ckpt cannot be read \\(Permission denied\\): fix its permissions"
    ):
        best_checkpoint(tmp_path, {"checkpoint": "checkpoints/best-000.ckpt", "checkpoint_sha256": "0" * 64})
