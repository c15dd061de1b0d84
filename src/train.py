"""Train one network per Hydra job: `python -m src.train [overrides]`, `python -m src.train -m kernel=3,4,5 seed=0,1,2`.

Each job's run directory ends with:
  summary.json      resolved config, epochs, the selected epoch's train/val/test accuracy, checkpoint, status
  checkpoints/      selected-EEE.ckpt (the selected epoch) and last.ckpt (for resuming)
  metrics.csv       per-epoch metrics (CSVLogger); wandb/ holds the offline W&B run
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import secrets
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from src.checks import integer, is_integer, is_number
from src.cli import run_cli, user_errors_exit
from src.errors import ConfigError, UserError
from src.files import atomic_write, file_sha256, writable_folder
from src.records import code_version, write_record
from src.runs import SUMMARY, RunRecord, check_same_settings, run_lock, settings_differences

log = logging.getLogger(__name__)
DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT)  # a write the file system refused
# torch.save reports a refused write as a RuntimeError from its zip writer, not an OSError
TORCH_WRITE_ERRORS = ("PytorchStreamWriter failed", "No space left on device", "unexpected pos")
# summary.json is written before the CSV logger's first save, so its "directory not empty" warning is expected
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
# Lightning vs newer torch, harmless
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# Lightning hints that do not apply: SLURM's client is installed but this job was not started by srun (a login node,
# or submitit's own job script); an epoch shorter than the logging interval (train/* are logged per epoch here)
warnings.filterwarnings("ignore", message=r".*`srun` command is available on your system")
warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")


def check_config(cfg: DictConfig) -> None:
    """Reject settings the pipeline cannot use before anything runs, each with a one-line message naming it."""
    _check_training(cfg)
    _check_model(cfg)
    info, side = _check_data(cfg)
    sens = cfg.get("callbacks", {}).get("sensitivity")
    if sens is not None:
        integer("callbacks.sensitivity.images_per_class", sens.images_per_class, 1)
        integer("callbacks.sensitivity.every_n_epochs", sens.get("every_n_epochs", 1), 1)
    check_network(cfg, info, side)
    from src.hardware import check_bf16, compute_device

    check_bf16("trainer.precision", cfg.trainer.get("precision"), compute_device(cfg.trainer.get("accelerator")))


def _check_training(cfg: DictConfig) -> None:
    """The optimisation settings: learning rate, seed, determinism, stopping criterion, epochs, batch, threads."""
    lr = cfg.lr
    if not is_number(lr) or lr <= 0:
        raise ConfigError(f"lr={lr!r} is not allowed: the learning rate must be a finite number > 0")
    if not is_integer(cfg.seed) or not 0 <= cfg.seed <= 2**32 - 1:
        # outside this range Lightning (numpy) silently draws a random seed instead
        raise ConfigError(f"seed={cfg.seed!r} is not allowed: the seed must be an integer in 0..{2**32 - 1}")
    if cfg.get("deterministic") not in (True, False, "warn"):
        raise ConfigError(f"deterministic={cfg.get('deterministic')!r} is not allowed: use true, false or warn")
    t = cfg.stop_train_accuracy
    if not is_number(t) or not 0 < t <= 1:
        raise ConfigError(f"stop_train_accuracy={t!r} is not allowed: a training accuracy in (0, 1], e.g. 0.99")
    integer("max_epochs", cfg.max_epochs, 1)
    integer("batch_size", cfg.batch_size, 1)
    integer("threads", cfg.threads, 0, " (0: torch's default)")


def _check_model(cfg: DictConfig) -> None:
    """The network's shape settings; check_network then builds it to catch what only the model knows."""
    from src.models.cnn import PADDINGS

    integer("kernel", cfg.kernel, 1, " (the paper uses 3, 4, 5)")
    if cfg.padding not in PADDINGS:
        raise ConfigError(f"padding={cfg.padding!r} is not allowed: use one of {list(PADDINGS)}")
    if "hidden" in cfg.model:
        integer("model.hidden", cfg.model.hidden, 1)
    if cfg.model.get("channels") is not None:
        chans = list(cfg.model.channels)
        if len(chans) != 3 or any(not is_integer(c) or c < 1 for c in chans):
            raise ConfigError(f"model.channels={chans} is not allowed: three integers >= 1, or null for the paper's")


def _check_data(cfg: DictConfig) -> tuple[dict, int]:
    """The dataset settings and the largest shift they allow; returns the dataset's info and the padded side (px)."""
    integer("dataset.eval_batch_size", cfg.dataset.eval_batch_size, 1)
    integer("dataset.num_workers", cfg.dataset.get("num_workers", 0), 0)
    integer("dataset.border", cfg.dataset.border, 0, " pixels of padding (the dataset's background)")
    norm = cfg.dataset.get("normalize")
    if norm and any(not isinstance(v, int | float) or v <= 0 for v in norm.get("std", [])):
        raise ConfigError(f"dataset.normalize.std={list(norm.get('std', []))} is not allowed: every std must be > 0")
    from src.conf import dataset_entry

    info = cfg.dataset.get("info") or dataset_entry(cfg.dataset.name)[0]
    data_dir = Path(cfg.paths.data_dir).expanduser()
    # the dataset table says whether it reads files
    if info.get("reads_files", True) and not data_dir.is_dir():
        what = "is a file, not a folder" if data_dir.exists() else "does not exist"
        raise ConfigError(f"paths.data_dir={data_dir} {what}: create it or set paths.data_dir=... (or $DATA_DIR)")
    side = info["raw_size"] + 2 * cfg.dataset.border
    integer("max_shift", cfg.max_shift, 0)
    if cfg.max_shift > (side - 1) // 2:
        raise ConfigError(
            f"max_shift={cfg.max_shift} is not allowed for {side}x{side} images: use 0..{(side - 1) // 2}"
        )
    return info, side


def check_network(cfg: DictConfig, info, side: int) -> None:
    """Build the network once (milliseconds) so that a kernel too large for the image, a pool or head that does
    not exist, or a model setting the model refuses is one line now rather than a traceback after data loading."""

    from hydra.errors import InstantiationException

    from src.data.datamodule import DatasetInfo
    from src.models.build import build_model

    info = DatasetInfo(**info) if isinstance(info, dict | DictConfig) else info
    if info is None:
        return
    data = SimpleNamespace(info=info, image_size=side, num_classes=info.num_classes)
    try:
        net = build_model(cfg.model, data, cfg.kernel, cfg.padding)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        raise ConfigError(f"model settings are refused: {str(e).strip().splitlines()[0]}") from None
    sens = cfg.get("callbacks", {}).get("sensitivity")
    if sens is not None:  # a mistyped measuring point fails now, not after the first epoch
        from src.sensitivity.maps import check_layers

        layers = sens.get("layers", [])
        check_layers(net, [layers] if isinstance(layers, str) else list(layers), "callbacks.sensitivity.layers")


def resume_point(last: Path) -> Path:
    """`last`, unless it is unreadable (a kill while Lightning wrote it): then it is set aside as *.corrupt."""
    if last.is_file():
        import torch

        try:
            torch.load(last, map_location="cpu", weights_only=False)
        except Exception as e:
            log.warning(f"{last} is unreadable ({type(e).__name__}); starting this run afresh")
            last.rename(last.with_suffix(".corrupt"))
    return last


def train(cfg: DictConfig) -> dict:
    """Fit, select the best-validation checkpoint, test it, and write summary.json. Returns the summary.

    Refused with one line before any work: bad settings, a run directory holding a run with other settings, or one
    that another process is using.
    """
    check_config(cfg)
    out = writable_folder("hydra.run.dir", cfg.paths.output_dir)
    # a DDP process that Lightning started: rank 0 owns the run directory, its lock and summary
    if ddp_worker():
        return _fit_and_test(cfg, out)
    check_same_settings(out, OmegaConf.to_container(cfg, resolve=True))
    if cfg.skip_completed and (done := committed_record(cfg, out)):
        print(f"{job_progress()}skipping {out}: recorded in {cfg.records} (test acc {done['test_acc']:.4f})")
        return done
    if cfg.skip_completed and (done := RunRecord.read(out)).completed:
        if done.finished():
            print(f"{job_progress()}skipping {out}: already completed (test acc {done['test_acc']:.4f})")
            return done
        aside = out / f"checkpoints.damaged-{int(time.time())}"
        log.warning(f"{out}: the selected checkpoint is damaged; training again (old checkpoints in {aside})")
        (out / "checkpoints").rename(aside)
    with run_lock(out):
        return _fit_and_test(cfg, out)


def command_line_overrides() -> list[str]:
    """This job's overrides as Hydra parsed them (what .hydra/overrides.yaml would hold); [] outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def ddp_worker() -> bool:
    """True in the processes Lightning's DDP launcher starts beside rank 0 (they rerun this entry point)."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 or int(os.environ.get("NODE_RANK", "0")) > 0


def _fit_and_test(cfg: DictConfig, out: Path) -> dict:
    """Train (resuming from last.ckpt when there is one), test the selected checkpoint, and keep summary.json
    current throughout: "running", then "completed" with the selected epoch's accuracies (or the failure)."""
    import lightning as L
    import torch

    from src.cli import tidy_lightning_logging

    tidy_lightning_logging()
    start = time.time()

    def save_summary(summary: RunRecord) -> None:  # rank 0 alone writes the run's record
        if not ddp_worker():
            summary.write()

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg, wandb_id, dm, module, history, callbacks, trainer = _training_parts(cfg, out)
    last = Path(cfg.ckpt_path) if cfg.ckpt_path else resume_point(out / "checkpoints" / "last.ckpt")
    if cfg.ckpt_path and not last.is_file():
        raise ConfigError(f"ckpt_path={last} is not a file: give a Lightning checkpoint (.ckpt)")
    summary = RunRecord(
        {
            "status": "running",
            "run_dir": str(out),
            "started_at": time.time(),  # Unix time, s
            "pid": os.getpid(),
            "resumed_from": str(last) if last.is_file() else None,
            "wandb_id": wandb_id,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "overrides": command_line_overrides(),
            "code": code_version(),  # the commit that trains it (a record of the run keeps it)
        }
    )
    save_summary(summary)
    if last.is_file():  # the resumed run's metrics.csv continues from the epoch the checkpoint ends at
        trim_metrics(out / "metrics.csv", resumed_epoch(last))
    with recording_failures(summary, history, save_summary, out), stop_on_signals():
        trainer.fit(module, datamodule=dm, ckpt_path=str(last) if last.is_file() else None)
        # "" when nothing was saved (debug=fast_dev_run): test the weights as they are
        selected_ckpt = trainer_selected_checkpoint(trainer)
        # test() restores callback states from the selected checkpoint: keep ours
        epochs = list(history.epochs)
        test = trainer.test(module, datamodule=dm, ckpt_path=selected_ckpt or None, verbose=False)[0]
        # test() loaded the selected weights: their accuracy on the whole training set, in eval mode, is the
        # evidence that the selected network meets the criterion (the running accuracy is measured mid-update).
        full_train_acc = module.accuracy(dm.train_set.images, dm.train_set.labels)
    history.epochs = epochs
    summary |= completion_record(cfg, out, history, selected_ckpt, test["test/acc"], full_train_acc)
    summary |= {
        "global_step": trainer.global_step,  # optimizer steps done; a later evaluation logs to W&B after them
        "wall_time_s": round(time.time() - start, 1),
        "finished_at": time.time(),
        "device": str(trainer.strategy.root_device),
        "precision": str(trainer.precision),  # 32-true, or bf16-mixed where the hardware has bf16
    }
    save_summary(summary)
    if ddp_worker():
        return summary
    report_done(summary, callbacks, cfg.stop_train_accuracy, out)
    if cfg.get("records"):  # committed as soon as it exists: the work outlives the machine (src/records.py)
        write_record(out, Path(cfg.records) / out.name)
    return summary


def committed_record(cfg: DictConfig, out: Path) -> dict | None:
    """The record of this job in `records` (a folder of committed records of its sweep) when one exists with the same
    settings: the job is done. A record with other settings is a ConfigError, like a run folder's."""
    if not cfg.get("records"):
        return None
    from src.records import recorded

    record = Path(cfg.records) / out.name
    done = recorded(record)
    differ = done and settings_differences(done["config"], OmegaConf.to_container(cfg, resolve=True))
    if differ:
        raise ConfigError(f"{record} records this job with other settings ({differ}): records=null trains it anew")
    return done


def _training_parts(cfg: DictConfig, out: Path) -> tuple:
    """(cfg with its W&B run id, the id, datamodule, LightningModule, epoch history, callbacks, trainer), built from
    the config; the loggers have the resolved config as hyperparameters."""
    from src.callbacks import EpochHistory
    from src.models import ClassifierModule
    from src.models.build import build_model

    dm = hydra.utils.instantiate(cfg.dataset)
    dm.load_files()  # no data: one line before a W&B run or a summary exists (a failed start leaves neither)
    net = build_model(cfg.model, dm, cfg.kernel, cfg.padding)
    if cfg.compile:
        net.compile()
    settings = {"train_accuracy_criterion": cfg.stop_train_accuracy, "channels_last": cfg.channels_last}
    module = ClassifierModule(net, lr=cfg.lr, num_classes=dm.num_classes, optimizer=optimizer_factory(cfg), **settings)
    history = EpochHistory()
    callbacks = [hydra.utils.instantiate(c) for c in cfg.callbacks.values()] + [history]
    cfg, wandb_id = with_wandb_run(cfg, out)
    loggers = [hydra.utils.instantiate(c) for c in cfg.logger.values()]
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    # no progress bar where nobody watches one (SLURM job logs, nohup, pipes): it would fill the log file
    bar = {} if sys.stdout.isatty() else {"enable_progress_bar": False}
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers, **bar)
    return cfg, wandb_id, dm, module, history, callbacks, trainer


def optimizer_factory(cfg: DictConfig):
    """(parameters, lr=...) -> the optimizer of conf/optimizer/ (`name` is the choice's label, not an argument)."""

    spec = cfg.get("optimizer")
    if spec is None:  # a config from before the optimizer group: Adam
        return None
    spec = spec.copy()
    with open_dict(spec):
        spec.pop("name", None)
    return hydra.utils.instantiate(spec)


def completion_record(
    cfg: DictConfig, out: Path, history, selected_ckpt: str, test_acc: float, full_train_acc: float
) -> dict:
    """The completed run's record: the selected epoch (best validation accuracy among the epochs whose running
    training accuracy reached the criterion; if none did, the best-validation epoch, and meets_criterion is false:
    src.reproduce excludes such runs, src.evaluate warns), its accuracies, and its checkpoint with a hash."""
    epochs = history.epochs
    chosen = history.selected() or {}
    # never report one epoch's accuracies beside another epoch's weights (files: selected-EEE.ckpt; best-EEE.ckpt
    # in a run begun before 2026-12-03 and resumed since)
    epoch_of_file = Path(selected_ckpt).stem.split("-")[-1] if selected_ckpt else None
    if epoch_of_file is not None and chosen.get("epoch") is not None and epoch_of_file != f"{chosen['epoch']:03d}":
        raise UserError(
            f"{out}: the selected checkpoint {Path(selected_ckpt).name} is not the selected epoch {chosen['epoch']}; "
            f"delete {out}/summary.json and {out}/checkpoints to train again"
        )
    stopped_at_criterion = bool(epochs) and epochs[-1].get("train/acc", 0) >= cfg.stop_train_accuracy
    return {
        "status": "completed",
        "epochs": len(epochs),
        "stopped_by": "train_accuracy" if stopped_at_criterion else "max_epochs",
        "criterion": {"train_accuracy": cfg.stop_train_accuracy, "measured_as": "running accuracy of the epoch"},
        "meets_criterion": chosen.get("val/acc_eligible", -1) >= 0,
        "selected_epoch": chosen.get("epoch"),
        "train_acc": chosen.get("train/acc"),
        "train_acc_full": full_train_acc,
        "val_acc": chosen.get("val/acc"),
        "test_acc": test_acc,
        # relative to the run directory, with its content hash: a moved or copied run still finds its own
        # weights, and evaluation refuses weights that are not the ones this summary describes
        "checkpoint": os.path.relpath(selected_ckpt, out) if selected_ckpt else "",
        "checkpoint_sha256": file_sha256(Path(selected_ckpt)) if selected_ckpt else None,
        "history": epochs,
    }


def with_wandb_run(cfg: DictConfig, out: Path) -> tuple[DictConfig, str | None]:
    """(cfg with the run's W&B id, resume, first step and group set, the id): one W&B run per run directory, so a
    resumed training continues it; (cfg, None) without a W&B logger."""
    if "wandb" not in cfg.logger:
        return cfg, None
    from src.wandb_log import next_step

    wandb_id = wandb_run_id(out)
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.logger.wandb.id, cfg.logger.wandb.resume = wandb_id, "allow"
        # a resumed run's new offline folder continues after every step the earlier ones logged (even steps of an
        # epoch the checkpoint does not hold), so `wandb sync` can append the folders in order
        cfg.logger.wandb.first_step = next_step(out, wandb_id)
        if not cfg.logger.wandb.get("group"):  # one W&B group per sweep folder: a sweep's runs compare
            cfg.logger.wandb.group = wandb_group(cfg.task_name, out)
    return cfg, wandb_id


@contextmanager
def recording_failures(summary: dict, history, save_summary, out: Path) -> Iterator[None]:
    """Around fit and test: a signal records "interrupted" and exits 128 + signum (resumable: the same command
    continues from checkpoints/last.ckpt); any other error records "failed" with the error, so the run never looks
    complete and a rerun retries it. Divergence and disk errors become one-line UserErrors."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        yield
    except (StopRequested, KeyboardInterrupt, SIGTERMException) as e:  # pre-emption or Ctrl-C: resumable
        signum = e.signum if isinstance(e, StopRequested) else signal.SIGINT
        if isinstance(e, SIGTERMException):
            signum = signal.SIGTERM
        summary |= {"status": "interrupted", "error": signal.Signals(signum).name, "history": history.epochs}
        save_summary(summary)
        _finish_wandb()
        log.error(
            f"{out}: interrupted ({signal.Signals(signum).name}); the same command resumes from "
            "checkpoints/last.ckpt (the last whole epoch)"
        )
        raise SystemExit(128 + signum) from e
    except Exception as e:
        summary |= {"status": "failed", "error": f"{type(e).__name__}: {e}", "history": history.epochs}
        save_summary(summary)
        _finish_wandb()
        if isinstance(e, FloatingPointError):  # divergence: a clear message, no maps from this network
            raise UserError(f"{out}: {e}") from e
        # torch.save, disk full
        if isinstance(e, RuntimeError) and any(s in str(e) for s in TORCH_WRITE_ERRORS):
            raise UserError(
                f"{out}: a checkpoint could not be written ({str(e).strip().splitlines()[0]}): free disk "
                "space; the run is marked failed and the same command resumes from its last whole "
                "epoch"
            ) from e
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:  # full disk, read-only or forbidden: one line
            raise UserError(
                f"{out}: {e.strerror} while writing {e.filename or 'a checkpoint'}; the run is marked "
                "failed and the same command resumes from its last whole epoch"
            ) from e
        raise


def report_done(summary: dict, callbacks: list, criterion: float, out: Path) -> None:
    """Close the W&B run with a summary of the selected epoch (its accuracies and its sensitivity: sens_mean/*
    would otherwise hold the last epoch's values) and print the run's one-line result."""
    from src.callbacks import SensitivityCallback

    epoch = summary["selected_epoch"]
    selected = {
        f"selected/{k}": summary[k]
        for k in ("selected_epoch", "train_acc", "train_acc_full", "val_acc", "test_acc", "meets_criterion")
    }
    for cb in callbacks:
        if isinstance(cb, SensitivityCallback) and epoch is not None:
            selected |= cb.summary_at(epoch)
    _finish_wandb(selected)
    print(
        f"{job_progress()}done {out} in {summary['wall_time_s']:.0f} s: {summary['epochs']} epochs, selected epoch "
        f"{epoch}: train {summary['train_acc']:.4f} (full set {summary['train_acc_full']:.4f}) val "
        f"{summary['val_acc']:.4f} test {summary['test_acc']:.4f}"
        + ("" if summary["meets_criterion"] else f"; NO epoch reached train acc {criterion}")
    )
    if not summary["meets_criterion"]:
        log.warning(
            f"{out}: the training criterion (running train acc {criterion}) was NOT met in "
            f"{summary['epochs']} epochs: selected the best-validation epoch {epoch} instead; "
            "src.reproduce excludes this run (raise max_epochs to train on)"
        )


def trainer_selected_checkpoint(trainer) -> str:
    """The selection checkpoint's file ("" when nothing was saved, e.g. debug=fast_dev_run)."""
    monitored = [c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
    return monitored[0].best_model_path if monitored else ""


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived: stop at once (the next Python bytecode), resumable from the last whole epoch. A
    BaseException, like KeyboardInterrupt: no `except Exception` on the way (a sweep's per-job failure catch, a
    cleanup) may turn a signal into a failed job that the sweep then goes on from."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (SLURM's pre-emption, `kill`) and SIGINT (Ctrl-C) raise StopRequested inside the block.

    Lightning's own SIGTERM handling only stops at the end of an epoch (and then reports the run as finished), and
    its Ctrl-C handling exits 1 without telling us; SLURM sends SIGKILL 30 s after SIGTERM. Lightning chains this
    handler after its own when fit() starts.
    """

    def handler(signum, frame):
        raise StopRequested(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def resumed_epoch(last: Path) -> int:
    """The epoch a resume from `last` starts with (its stored epoch + 1, as Lightning saves at an epoch's end)."""
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=False).get("epoch", -1)) + 1


def trim_metrics(path: Path, first_epoch: int) -> None:
    """Keep the rows of metrics.csv from epochs before `first_epoch` (a dead run's later rows would be duplicated
    when the resumed run logs them again); rows cut mid-write or unparseable are dropped, the header kept."""

    if not path.is_file():
        return
    try:
        with open(path, newline="", errors="replace") as f:
            rows = list(csv.reader(f))
    except (OSError, csv.Error):
        rows = []
    header = rows[0] if rows and "epoch" in rows[0] else None
    kept = []
    if header:
        col = header.index("epoch")
        for row in rows[1:]:
            try:
                if len(row) == len(header) and int(float(row[col])) < first_epoch:
                    kept.append(row)
            except ValueError:
                continue

    def write(p: Path) -> None:
        with open(p, "w", newline="") as f:
            if header:
                csv.writer(f).writerows([header, *kept])

    if header is None:
        log.warning(f"{path} is unreadable: starting it afresh")
    atomic_write(path, write)


def job_progress() -> str:
    """ "[i/N] " for job i of a multirun of N jobs (N from src.sweep_report), else ""."""
    from hydra.core.hydra_config import HydraConfig

    try:
        num = HydraConfig.get().job.get("num")
    except ValueError:  # not under Hydra (tests, notebooks)
        return ""
    total = os.environ.get("SWEEP_TOTAL_JOBS")
    return f"[{num + 1}/{total}] " if num is not None and total else ""


def wandb_run_id(run_dir: Path) -> str:
    """The W&B run id of a run directory: the one in its summary.json (a resumed run continues its W&B run), else a
    new random one (an id derived from the path would be reused by a new run in the same folder after a clean)."""

    if (run_dir / SUMMARY).is_file() and (known := RunRecord.read(run_dir).get("wandb_id")):
        return known
    return secrets.token_hex(8)


def wandb_group(task_name: str, run_dir: Path) -> str:
    """<task_name>/<the folder that holds the run>: exp1_mnist/seeds3 for a figure's sweep, train/<date> for a
    multirun, train/runs for single runs."""
    return f"{task_name}/{Path(run_dir).parent.name}"


def _finish_wandb(summary: dict | None = None) -> None:
    """Write `summary` into the W&B run's summary and close the run, so the next job of a multirun does not log
    into it."""

    if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
        if summary:
            # the last history row is still pending (logged at an explicit step): committed at finish(), it would
            # overwrite these values with the last epoch's; commit it first
            sys.modules["wandb"].run.log({}, commit=True)
            sys.modules["wandb"].run.summary.update(summary)
        sys.modules["wandb"].finish()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # One failed job must not stop the sweep: its summary says "failed" with the error, and
        # src.sweep_report.SweepReport lists the failures when the sweep ends (and sets the exit status).
        try:
            return train(cfg)
        # a signal that arrived outside fit's own handling is still an interruption, never a failure
        except StopRequested as e:
            raise SystemExit(128 + e.signum) from e
        except Exception as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error(f"job failed: {type(e).__name__}: {e}")
            out = Path(cfg.paths.output_dir)
            if not out.is_file() and not (out / SUMMARY).is_file():  # refused before training started
                RunRecord(status="failed", error=str(e), run_dir=str(out)).write()
            return None
    return user_errors_exit(train)(cfg)


if __name__ == "__main__":
    run_cli(main, "train")
