"""Off the happy path (issue 22): every result tied to its weights, resume without redoing work, signals that
stop a run at once, bad settings refused before work. In-process, synthetic data: seconds each."""

import csv
import json
import shutil
import signal

import pytest
import torch
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from src.conf import CONF_DIR
from src.errors import DataError
from src.evaluate import evaluate_run
from src.figures import FIGURES
from src.figures.claims import claims_for
from src.sensitivity import SensitivityResult
from src.train import train
from tests.conftest import compose_config

BASE = ["dataset=synthetic", "logger=csv", "max_shift=2", "trainer.enable_progress_bar=false"]


def _cfg(run, *extra):
    return compose_config("train", [*BASE, *extra], run)


def _summary(run) -> dict:
    return json.loads((run / "summary.json").read_text())


def _metric_epochs(run) -> list[str]:
    with open(run / "metrics.csv") as f:
        return [row["epoch"] for row in csv.DictReader(f) if row.get("val/acc")]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_at_once_and_a_moved_run_resumes_without_mixing_epochs(tmp_path, sig, code):
    run = tmp_path / "run"
    stop = ["+callbacks.stop._target_=tests.conftest.SignalAt", "+callbacks.stop.epoch=1",
            f"+callbacks.stop.signum={int(sig)}"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        train(_cfg(run, "max_epochs=3", "stop_train_accuracy=1.0", *stop))
    assert exit_.value.code == code  # 128 + the signal, as a shell reports it
    before = _summary(run)
    assert before["status"] == "interrupted" and before["error"] == signal.Signals(sig).name
    assert [e["epoch"] for e in before["history"]] == [0]  # stopped in epoch 1, not after training it
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0  # saved every epoch
    with open(run / "metrics.csv", "a") as f:
        f.write("0.5,0.4,1")  # a row cut mid-write by the kill

    moved = tmp_path / "archive" / "moved"
    shutil.copytree(run, moved)  # the interrupted run copied elsewhere and resumed there
    after = train(_cfg(moved, "max_epochs=3", "stop_train_accuracy=1.0"))
    assert after["status"] == "completed" and after["resumed_from"].endswith("last.ckpt")
    epochs = [e["epoch"] for e in after["history"]]
    assert epochs == [0, 1, 2] and after["history"][0] == before["history"][0]  # epoch 0 not retrained
    best = max(after["history"], key=lambda e: e["val/acc"])  # criterion 1.0 is never met: best validation
    assert after["selected_epoch"] == best["epoch"] and after["val_acc"] == best["val/acc"]
    assert after["checkpoint"] == f"checkpoints/selected-{best['epoch']:03d}.ckpt"
    assert sorted(_metric_epochs(moved)) == ["0", "1", "2"]  # each epoch once, the cut row gone


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    for seed in (0, 1):
        train(compose_config("train", [*BASE, "max_epochs=1", f"seed={seed}"], root / f"s{seed}"))
    return root


def _ecfg(run):
    return OmegaConf.merge(
        compose_config("evaluate", [f"run_dir={run}", "max_shift=2", "images_per_class=4"], run), {"force": True}
    )


@pytest.mark.slow
def test_evaluation_measures_only_the_runs_own_weights(two_runs, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(two_runs / "s0", archive)
    s = _summary(archive)
    # an old-style summary with the absolute path of another run's checkpoint: the run's own file is used
    other = two_runs / "s1" / s["checkpoint"]
    (archive / "summary.json").write_text(json.dumps(s | {"checkpoint": str(other)}))
    result = evaluate_run(archive, _ecfg(archive))
    own = evaluate_run(two_runs / "s0", _ecfg(two_runs / "s0"))
    assert torch.equal(result.maps["fc"]["cosine"], own.maps["fc"]["cosine"])
    # the run's checkpoint replaced by another run's weights: refused, in one line
    shutil.copy(other, archive / s["checkpoint"])
    with pytest.raises(DataError, match="not the checkpoint its summary.json describes") as err:
        evaluate_run(archive, _ecfg(archive))
    assert "\n" not in str(err.value)


def test_non_finite_weights_make_no_maps(two_runs, tmp_path):
    run = tmp_path / "nan"
    shutil.copytree(two_runs / "s0", run, ignore=shutil.ignore_patterns("sensitivity.pt"))
    s = _summary(run)
    ckpt = torch.load(run / s["checkpoint"], weights_only=False)
    name = next(k for k in ckpt["state_dict"] if k.endswith("weight"))
    ckpt["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(ckpt, run / s["checkpoint"])
    (run / "summary.json").write_text(json.dumps(s | {"checkpoint_sha256": None}))
    with pytest.raises(DataError, match="non-finite weights"):
        evaluate_run(run, _ecfg(run))
    assert not (run / "sensitivity.pt").exists()


def test_degenerate_and_non_finite_maps_are_caught():
    k, s = 2, 1
    ones, zeros = torch.ones(k, 3, 3, dtype=torch.float64), torch.zeros(k, 3, 3, dtype=torch.float64)
    layers = {"conv": {"cosine": ones * 0.5, "distance": ones}, "fc": {"cosine": ones, "distance": zeros}}
    result = SensitivityResult(layers, ones, ones, torch.tensor([3, 3]), s)
    assert result.degenerate_layers() == ["fc"]  # a constant response: cosine 1 measures nothing
    layers["conv"]["cosine"] = ones * float("nan")
    with pytest.raises(DataError, match="cosine maps at conv are not finite"):
        result.degenerate_layers()


def test_claims_whose_network_was_not_run_are_skipped_and_listed():
    profile = [[1.0, 0.8, 0.6]] * 3
    radial = {layer: {"cosine": {"k=3": profile, "k=5": profile}} for layer in ("conv", "softmax")}
    claims = claims_for(FIGURES["2"].claims, radial, "softmax", 2)["claims"]
    skipped = [c for c in claims if c.get("skipped")]
    assert {c["claim"] for c in skipped} >= {"smaller kernels, less sensitive conv output: k=3 > k=4"}
    assert all("k=4" in c["a"][1] + c["b"][1] for c in skipped)
    assert all("p_holm" in c for c in claims if not c.get("skipped"))  # Holm over the claims that ran


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("launcher=foo", "launcher='foo' is not allowed"),
        ("extra_overrides=['kernle=3']", "are refused"),
        ("extra_overrides=['kernel=30','padding=none']", "kernel"),
        ("output_layer=bogus", "output_layer='bogus' is not measured"),
        ("preset.seeds=[]", "preset.seeds=[] is not allowed: a non-empty list"),
        ("preset.kernels=[]", "preset.kernels=[] is not allowed"),
        ("preset.lrs=[]", "preset.lrs=[] is not allowed"),
        ("preset.lrs=[0.001,-1]", "preset.lrs=[0.001, -1] is not allowed: positive numbers > 0"),
        ("preset.seeds=[0.5]", "preset.seeds=[0.5] is not allowed: integers"),
    ],
)
def test_reproduce_refuses_bad_settings_before_training(tmp_path, override, message):
    from src.reproduce import main

    cfg = compose_config("reproduce", ["figure=2", f"outputs={tmp_path}", f"figures_dir={tmp_path}", override],
                         tmp_path)  # fmt: skip
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"), pytest.raises(SystemExit) as e:
        main.__wrapped__(cfg)  # the function under @hydra.main, with its one-line error handling
    assert e.value.code == 2
    assert not list(tmp_path.glob("exp1_mnist/*"))  # nothing trained


def test_foreign_runs_in_a_sweep_folder_are_refused(tmp_path):
    from src.reproduce import refuse_foreign

    cfg = compose_config("reproduce", ["figure=2", "preset=quick"], tmp_path)
    mine = {"config": {"kernel": 3, "lr": 0.001, "seed": 0, "padding": "same", "max_epochs": 10,
                       "stop_train_accuracy": 0.99, "dataset": {"name": "mnist"}}, "run_dir": "a"}  # fmt: skip
    foreign = {"config": mine["config"] | {"padding": "none", "seed": 7}, "run_dir": "b"}
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        kept, refused = refuse_foreign(cfg, "exp1_mnist", {3: [mine, foreign]})
    assert kept == {3: [mine]} and [r["run_dir"] for r in refused] == ["b"]
    assert "padding: 'none' -> 'same'" in refused[0]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "message"),
    [("[]", "is not a run summary"), ('{"status": "completed", "config": {}}', "says completed but lacks"),
     ('{"status": "compl', "corrupt or truncated")],
    ids=["list", "completed_without_test_acc", "truncated"],
)  # fmt: skip
def test_damaged_summaries_are_one_line_and_evaluate_goes_on(two_runs, tmp_path, content, message):
    from src.evaluate import main as evaluate_main
    from src.runs import RunRecord

    folder = tmp_path / "runs"
    shutil.copytree(two_runs / "s0", folder / "good", ignore=shutil.ignore_patterns("sensitivity.pt"))
    (folder / "bad").mkdir()
    (folder / "bad" / "summary.json").write_text(content)
    damaged = RunRecord.read(folder / "bad")
    assert damaged["status"] == "unreadable" and message in damaged["error"] and "\n" not in damaged["error"]
    cfg = compose_config("evaluate", [f"run_dir={folder}", "max_shift=2", "images_per_class=4"], tmp_path)
    with pytest.raises(SystemExit) as e:
        evaluate_main.__wrapped__(cfg)
    assert e.value.code == 2  # one run could not be evaluated, said in one line ...
    assert (folder / "good" / "sensitivity.pt").is_file()  # ... and the other one was


@pytest.mark.parametrize("content", ["{}", '{"figure": "2", "name": "fig2", "max_shift": 2, "radial": null}'])
def test_a_damaged_figure_json_is_one_line(tmp_path, content):
    from src.reproduce import main

    (tmp_path / "fig2.json").write_text(content)
    cfg = compose_config("reproduce", ["figure=2", "redraw=true", f"figures_dir={tmp_path}"], tmp_path)
    with pytest.raises(SystemExit) as e:
        main.__wrapped__(cfg)
    assert e.value.code == 2
    (tmp_path / "fig2.json").unlink()  # none in figures_dir: the committed figures/fig2.json is redrawn there
    main.__wrapped__(cfg)
    assert (tmp_path / "fig2.png").is_file() and (tmp_path / "fig2.json").is_file()


def test_metrics_csv_of_random_bytes_is_set_aside(tmp_path):
    from src.loggers import ResumableCSVLogger

    (tmp_path / "metrics.csv").write_bytes(bytes(range(256)) * 4)
    logger = ResumableCSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.log_metrics({"val/acc": 0.5}, step=0)
    logger.save()
    assert "val/acc" in (tmp_path / "metrics.csv").read_text() and list(tmp_path.glob("metrics.csv.damaged-*"))


def test_a_signal_while_a_new_column_is_written_keeps_every_row(tmp_path, monkeypatch):
    """Lightning rewrites metrics.csv when a column appears; a kill mid-rewrite used to leave it empty."""
    import csv

    from src.loggers import ResumableCSVLogger

    logger = ResumableCSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.log_metrics({"epoch": 0, "val/acc": 0.5}, step=0)
    logger.save()
    real_writerows = csv.DictWriter.writerows

    def interrupted(self, rows):
        real_writerows(self, list(rows)[:0])  # the header is out, then the signal arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", interrupted)
    logger.log_metrics({"epoch": 0, "train/acc": 0.9}, step=1)  # a new column: the file is rewritten
    with pytest.raises(KeyboardInterrupt):
        logger.save()
    monkeypatch.undo()
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert [r["val/acc"] for r in csv.DictReader(f)] == ["0.5"]


@pytest.mark.slow
def test_ddp_training_on_two_cpu_processes(tmp_path):
    """trainer=ddp as the README gives it: rank 1 reruns the entry point and must not fight rank 0 for the run."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    env = cli_env()
    cmd = [sys.executable, "-m", "src.train", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
           "dataset=synthetic", "max_epochs=1", "logger=csv", "trainer.enable_progress_bar=false",
           f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = _summary(tmp_path / "run")
    assert s["status"] == "completed" and s["config"]["trainer"]["strategy"] == "ddp" and 0 < s["test_acc"] <= 1


def test_an_unwritable_output_folder_is_one_line_before_hydra_starts(tmp_path):
    import subprocess

    from src.cli import check_output_writable
    from src.errors import ConfigError

    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"hydra.run.dir=.*file/run cannot be created: .*file is a file"):
        check_output_writable("train", [f"hydra.run.dir={tmp_path / 'file' / 'run'}"])
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        with pytest.raises(ConfigError, match=r"hydra.sweep.dir=.*ro/s cannot be written: .*read-only file system"):
            check_output_writable("train", ["-m", f"hydra.sweep.dir={ro / 's'}"])
    finally:
        subprocess.run(["umount", str(ro)])


def test_an_output_folder_that_cannot_be_created_is_one_line_before_hydra_starts(tmp_path):
    from src.cli import check_output_writable
    from src.errors import ConfigError

    with pytest.raises(ConfigError, match=r"hydra.run.dir=/proc/x/run cannot be created"):
        check_output_writable("train", ["hydra.run.dir=/proc/x/run"])
    with pytest.raises(ConfigError, match=r"hydra.sweep.dir=.* cannot be created \(File name too long\)"):
        check_output_writable("train", ["-m", f"hydra.sweep.dir={tmp_path / ('x' * 300)}"])


def test_a_job_folder_name_over_255_bytes_is_one_line_before_the_sweep_starts():
    from src.cli import check_job_folder_names
    from src.errors import ConfigError

    long_tags = "run_name=" + "x" * 250  # the folder is named after every override but the excluded keys
    with pytest.raises(ConfigError, match=r"job folder name kernel=3,run_name=x+\.\.\. is 2\d\d bytes, over the 255"):
        check_job_folder_names("train", ["-m", "kernel=3,5", long_tags])
    check_job_folder_names("train", ["-m", "kernel=3,5", "tags=[" + ",".join(["t" * 50] * 6) + "]"])  # excluded key
    check_job_folder_names("train", [long_tags])  # a single run's folder is hydra.run.dir, checked above


def test_a_full_disk_while_training_is_one_line_and_the_run_is_marked_failed(tmp_path):
    """torch.save reports a full disk as a RuntimeError from its zip writer (37 frames before): one line."""
    from src.errors import UserError
    from src.train import recording_failures

    class History:
        epochs: list = []

    saved = []
    full = RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4416 vs 4304\n"
                        "PytorchStreamWriter failed writing file data/3: file write failed")  # fmt: skip
    with pytest.raises(UserError, match="a checkpoint could not be written .*unexpected pos.*free disk space"), \
            recording_failures({"status": "running"}, History(), saved.append, tmp_path):  # fmt: skip
        raise full
    assert saved[-1]["status"] == "failed"


@pytest.mark.slow
def test_a_full_disk_during_evaluation_is_one_line_and_leaves_nothing(two_runs, tmp_path, monkeypatch):
    import errno

    run = tmp_path / "full"
    shutil.copytree(two_runs / "s0", run, ignore=shutil.ignore_patterns("sensitivity.pt"))

    def no_space(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(SensitivityResult, "save", no_space)
    with pytest.raises(DataError, match="sensitivity.pt cannot be written .No space left on device.: nothing saved"):
        evaluate_run(run, _ecfg(run))
    assert not (run / "sensitivity.pt").exists()


def test_a_signal_to_reproduce_reaches_its_training_child(tmp_path):
    """SIGTERM to src.reproduce is passed on to the `src.train -m` it started, which then stops too."""
    import os
    import sys
    import threading
    import time

    from src.reproduce import run_child

    flag = tmp_path / "child_got_sigterm"
    child = ("import signal, sys, time, pathlib\n"
             f"def bye(*a): pathlib.Path({str(flag)!r}).write_text('1'); sys.exit(143)\n"
             "signal.signal(signal.SIGTERM, bye)\n"
             f"pathlib.Path({str(tmp_path / 'started')!r}).write_text('1')\n"
             "time.sleep(60)\n")  # fmt: skip

    def send():
        while not (tmp_path / "started").exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # to us, the parent

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=send, daemon=True).start()
    assert run_child([sys.executable, "-c", child]) == 143 and flag.exists()
    assert signal.getsignal(signal.SIGTERM) is before  # our forwarding handler is gone again


def test_bf16_is_refused_in_one_line_where_the_hardware_lacks_it(tmp_path, monkeypatch):
    import src.hardware
    from src.errors import ConfigError
    from src.evaluate import check_evaluate_config
    from src.train import check_config

    monkeypatch.setattr(src.hardware, "bf16_supported", lambda device: False)  # a CPU without AVX-512 BF16
    cfg = compose_config("train", ["dataset=synthetic", "trainer.precision=bf16-mixed"], tmp_path)
    with pytest.raises(ConfigError, match="trainer.precision=bf16-mixed is not allowed here: this CPU has no"):
        check_config(cfg)
    ecfg = compose_config("evaluate", [f"run_dir={tmp_path}", "autocast=bfloat16"], tmp_path)
    with pytest.raises(ConfigError, match="autocast=bfloat16 is not allowed here"):
        check_evaluate_config(ecfg)
    monkeypatch.setattr(src.hardware, "bf16_supported", lambda device: True)  # a CPU or GPU with bf16
    check_config(cfg)
    check_evaluate_config(ecfg)


def test_a_figure_never_mixes_precisions():
    from src.errors import ConfigError
    from src.reproduce import figure_precision

    def run(p):
        return {"config": {"trainer": {"precision": p}}}

    assert figure_precision({3: [run("32-true")], 5: [run("32-true")]}, {}) == {"training": "32-true", "maps": None}
    with pytest.raises(ConfigError, match="mix training precisions"):
        figure_precision({3: [run("32-true")], 5: [run("bf16-mixed")]}, {})


def test_failed_training_stops_the_figure_pipeline_unless_allowed(tmp_path, monkeypatch):
    import src.reproduce

    cfg = compose_config("reproduce", ["figure=2"], tmp_path)
    monkeypatch.setattr(src.reproduce, "run_child", lambda cmd: 1)  # some training jobs failed
    with pytest.raises(DataError, match="training failed in .* allow_failed=true"):
        src.reproduce.train_sweep(cfg, "exp1_mnist", [3], [0.001], tmp_path)
    cfg.allow_failed = True
    src.reproduce.train_sweep(cfg, "exp1_mnist", [3], [0.001], tmp_path)  # a warning, and on
    monkeypatch.setattr(src.reproduce, "run_child", lambda cmd: 143)  # the sweep was stopped by SIGTERM
    with pytest.raises(SystemExit) as e:
        src.reproduce.train_sweep(cfg, "exp1_mnist", [3], [0.001], tmp_path)
    assert e.value.code == 143


def test_the_wandb_summary_keeps_the_selected_epochs_values(tmp_path, monkeypatch):
    """Logged per epoch at explicit steps, the last row is committed only at finish(); the selected epoch's values
    written into the summary before that were overwritten by the last epoch's (issue: 0.7136 shown for 0.7237)."""
    import wandb

    from src.train import _finish_wandb
    from tests.conftest import wandb_final_summary as final_summary

    monkeypatch.setenv("WANDB_MODE", "offline")
    run = wandb.init(dir=str(tmp_path), mode="offline")
    for step, value in enumerate((0.70, 0.7237, 0.7136)):  # epochs 0-2; epoch 1 is the selected one
        run.log({"sens_mean/softmax/cosine": value, "epoch": step}, step=step)
    _finish_wandb({"sens_mean/softmax/cosine": 0.7237, "selected/selected_epoch": 1})
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    summary = final_summary(folder)
    assert summary["sens_mean/softmax/cosine"] == 0.7237 and summary["selected/selected_epoch"] == 1


def test_evaluate_says_how_much_it_will_measure_before_it_starts():
    from src.evaluate import workload

    assert "the whole test set (10,000 MNIST images) x 441 shifts (6.5-13 min" in workload(4, None, 10)
    assert workload(1, 100, 2) == "measuring 1 run(s), each on 100 test images per class x 25 shifts"


def test_wandb_plots_the_epoch_metrics_against_the_epoch(tmp_path, monkeypatch):
    from src.loggers import EPOCH_METRICS, WandbLogger
    from src.wandb_adapter import read_records

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    logger.log_metrics({"val/acc": 0.9, "epoch": 0}, step=3)
    logger.experiment.finish()
    (file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    metrics = {(r.metric.name or r.metric.glob_name): r.metric.step_metric
               for r in read_records(file) if r.WhichOneof("record_type") == "metric"}  # fmt: skip
    assert all(metrics.get(p) == "epoch" for p in EPOCH_METRICS), metrics


def test_wandb_online_without_a_login_is_one_line_before_training(tmp_path, monkeypatch):
    """logger.wandb.offline=false on a machine with no W&B login: W&B's UsageError traceback before, one line now."""
    from src.errors import UserError
    from src.loggers import WandbLogger

    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no stored login
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    import wandb

    wandb.teardown()  # an earlier test's W&B session keeps its (offline) settings: start from none, as a new process
    logger = WandbLogger(save_dir=str(tmp_path), offline=False)
    with pytest.raises(UserError, match=r"W&B could not start the run \(.*\): `wandb login`.*make wandb-sync"):
        logger.experiment  # noqa: B018  (the property starts the run)


def test_a_damaged_wandb_run_file_is_one_line(tmp_path):
    from src.errors import DataError
    from src.wandb_log import next_step

    folder = tmp_path / "wandb" / "offline-run-20260101_000000-abc123"
    folder.mkdir(parents=True)
    (folder / "run-abc123.wandb").write_bytes(b"random bytes, not a W&B file")
    with pytest.raises(DataError, match="run-abc123.wandb is damaged or not a W&B run file .*move its folder"):
        next_step(tmp_path, "abc123")


def test_a_failed_start_leaves_no_summary_and_no_wandb_run(tmp_path, monkeypatch):
    """No data files: one line before anything that src.compare or `make wandb-sync` would later pick up."""
    from src.errors import DataError
    from src.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    cfg = compose_config("train", ["dataset=mnist", f"paths.data_dir={tmp_path / 'empty'}"], run)
    with pytest.raises(DataError, match="MNIST not found in data_dir="):
        train(cfg)
    assert not (run / "summary.json").exists() and not (run / "wandb").exists()
