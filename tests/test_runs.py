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
    return compose_config("train", ["dataset=synthetic", "logger=csv", "max_epochs=1", "max_shift=2", *extra], run)


def test_other_settings_in_the_same_directory_are_refused(done_run):
    with pytest.raises(ConfigError) as err:
        train(_cfg(done_run, "lr=0.002", "kernel=3"))
    msg = str(err.value)
    assert "holds a run with other settings (kernel: 5 -> 3, lr: 0.001 -> 0.002" in msg and "\n" not in msg
    assert train(_cfg(done_run, "trainer.enable_progress_bar=false"))["status"] == "completed"  # volatile: skip


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
        compose_config("evaluate", [f"run_dir={run}", "max_shift=2", "images_per_class=4"], run), {"force": True}
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
    from src.runs import RunRecord

    ckpt = tmp_path / "checkpoints" / "best-000.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")

    def unreadable(path):  # what chmod 000 gives a user who is not root (CI and this machine run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(src.runs, "file_sha256", unreadable)
    with pytest.raises(DataError, match="best-000.ckpt cannot be read \\(Permission denied\\): fix its permissions"):
        RunRecord(
            run_dir=str(tmp_path), checkpoint="checkpoints/best-000.ckpt", checkpoint_sha256="0" * 64
        ).checkpoint()


def test_a_damaged_summary_beside_checkpoints_is_refused_not_resumed(tmp_path):
    """Its checkpoints' settings cannot be checked: a rerun with another lr would continue the old weights and
    write a completed summary naming the new setting."""
    from src.runs import check_same_settings

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (tmp_path / "summary.json").write_text('{"status": "compl')
    with pytest.raises(ConfigError, match="corrupt or truncated.*settings of its checkpoints cannot be checked"):
        check_same_settings(tmp_path, {"lr": 0.002})
    (tmp_path / "checkpoints" / "last.ckpt").unlink()  # nothing to resume: trained afresh, as before
    check_same_settings(tmp_path, {"lr": 0.002})


def test_results_table_takes_each_jobs_keys_from_its_config_and_keeps_test_and_val_apart(tmp_path):
    """A second command added a job with another swept key (lr) to the same sweep folder: the first job's row holds
    its own lr, not an empty cell; test-set and validation-subset cosines are separate columns."""
    import csv
    import io

    import torch

    from src.runs import RunRecord
    from src.sensitivity import SensitivityResult
    from src.sweep_report import refresh_results, results_table

    for job, lr, seed in (("kernel=3,seed=0", 0.001, 0), ("kernel=3,lr=0.002,seed=1", 0.002, 1)):
        RunRecord({"run_dir": str(tmp_path / job), "status": "completed", "selected_epoch": 0, "val_acc": 0.9, "epochs": 1,
                                       "test_acc": 0.9, "checkpoint": "", "meets_criterion": True,
                                       "config": {"kernel": 3, "lr": lr, "seed": seed, "dataset": {"name": "mnist"}}}).write()  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(results_table(tmp_path))))
    assert [(r["kernel"], r["lr"], r["seed"]) for r in rows] == [("3", "0.002", "1"), ("3", "0.001", "0")]
    maps = torch.ones(2, 3, 3, dtype=torch.float64)
    SensitivityResult({"conv": {"cosine": maps}}, maps, maps, torch.tensor([1, 1]), 1).save(
        tmp_path / "kernel=3,seed=0" / "sensitivity.pt"
    )
    (tmp_path / "results.csv").write_text("stale\n")
    refresh_results(tmp_path)  # what src.evaluate does after measuring
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert [r["test_cos_conv"] for r in rows] == ["", "1.0"] and not any(k.startswith("cos_") for k in rows[0])
    # each row says how it was measured (2 images, shifts up to 1 px): rows measured otherwise are seen, not averaged
    assert [(r["test_cos_images"], r["test_cos_max_shift"]) for r in rows] == [("", ""), ("2", "1")]


def test_a_run_written_before_the_selected_names_still_loads(tmp_path):
    """Before 2026-12-03 the selected epoch was `best_epoch` and its file best-EEE.ckpt (runs on disk and the
    committed records keep them): read as `selected_epoch`, the file found by the summary or by the old pattern."""
    import hashlib

    from src.runs import RunRecord

    ckpt = tmp_path / "checkpoints" / "best-002.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")
    old = {"status": "completed", "config": {"kernel": 3}, "epochs": 3, "best_epoch": 2, "val_acc": 0.9,
           "test_acc": 0.9, "checkpoint": "checkpoints/best-002.ckpt", "meets_criterion": True,
           "checkpoint_sha256": hashlib.sha256(b"weights").hexdigest()}  # fmt: skip
    RunRecord(old, run_dir=str(tmp_path)).write()
    summary = RunRecord.read(tmp_path)
    assert summary["selected_epoch"] == 2 and "best_epoch" not in summary and summary.completed
    assert summary.checkpoint() == ckpt == RunRecord(run_dir=str(tmp_path), checkpoint="").checkpoint()
    assert summary.finished()
    ckpt.write_bytes(b"other weights")  # not the file its summary describes: not finished, so retrained
    assert not RunRecord.read(tmp_path).finished()


def test_a_run_record_is_read_once_and_verifies_its_checkpoint_once(tmp_path, monkeypatch):
    """One RunRecord per run: its checkpoint is resolved and hashed once however many readers ask (evaluate asks for
    the measurement's identity and for the weights), and it is the dict summary.json holds, completed on read."""
    import hashlib
    import json

    import src.runs
    from src.runs import RunRecord

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "selected-001.ckpt").write_bytes(b"weights")
    RunRecord({"run_dir": str(tmp_path), "status": "completed", "config": {"seed": 0}, "epochs": 2, "selected_epoch": 1,
               "val_acc": 0.9, "test_acc": 0.9, "checkpoint": "checkpoints/selected-001.ckpt", "meets_criterion": True,
               "checkpoint_sha256": hashlib.sha256(b"weights").hexdigest()}).write()  # fmt: skip
    hashes = []
    monkeypatch.setattr(
        src.runs, "file_sha256", lambda p: hashes.append(p) or hashlib.sha256(p.read_bytes()).hexdigest()
    )
    record = RunRecord.read(tmp_path)
    assert record.checkpoint() == record.checkpoint() == tmp_path / "checkpoints" / "selected-001.ckpt"
    assert len(hashes) == 1 and record.finished() and len(hashes) == 1
    stored = json.loads((tmp_path / "summary.json").read_text())
    assert {k: v for k, v in stored.items() if k != "config"} == {k: v for k, v in record.items() if k != "config"}
    # the config completed for today's code on read: a run from before the optimizer group used Adam
    assert record.settings["seed"] == 0 and record.settings["optimizer.name"] == "adam"
    assert record.name == tmp_path.name and record.test_maps() is None
