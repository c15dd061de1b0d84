"""The run directory, owned here: its summary and status, its checkpoints and trained network, scans of sweeps, and
its lock.

A run directory holds summary.json (read as a `RunRecord`: status, the resolved config, the selected epoch and its
accuracies), checkpoints/ (selected-EEE.ckpt, last.ckpt), metrics.csv, sensitivity_epochs/ and
sensitivity.pt. Every scan here tolerates a damaged summary: it is reported, never fatal to the other runs.
"""

from __future__ import annotations

import csv
import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from omegaconf import OmegaConf

from src.conf import completed_config
from src.errors import ConfigError, DataError, UserError
from src.files import file_sha256, read_json, write_json

SUMMARY = "summary.json"
MAPS = "sensitivity.pt"  # src.evaluate's default output: the selected network's test-set maps
# What a completed summary always holds; one without them is damaged (treated as unreadable, and retrained).
COMPLETED_KEYS = ("config", "epochs", "selected_epoch", "val_acc", "test_acc", "checkpoint", "meets_criterion")
# Settings that may differ between two commands on the same run directory without changing what it computes.
VOLATILE = ("paths", "logger", "tags", "threads", "skip_completed", "ckpt_path", "trainer.enable_progress_bar",
            "dataset.data_dir", "dataset.download", "callbacks", "task_name", "run_name", "trainer.default_root_dir",
            "debug", "records")  # fmt: skip


class RunRecord(dict):
    """A run directory's summary.json as read, and every fact about the run decided from it: here only.

    The dict is the file (status, resolved config, selected epoch and its accuracies, the selected checkpoint's name
    and sha256, ...) with `run_dir`, read once per run by `read`, which completes what earlier versions wrote for
    today's code. Training writes it; evaluate, reproduce, compare, the records, the SLURM launcher's skip and the
    W&B artifact read it. The selected checkpoint is resolved and verified once per record (`checkpoint`).
    """

    @classmethod
    def read(cls, run: str | Path) -> RunRecord:
        """The run's record; a missing or damaged file gives {"status": "unreadable", "error": ...}."""
        run = Path(run)
        try:
            data = read_json(run / SUMMARY)
        except UserError as e:
            return cls(status="unreadable", error=str(e), run_dir=str(run))
        if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
            return cls(
                status="unreadable",
                run_dir=str(run),
                error=f"{run / SUMMARY} is not a run summary (a JSON object with its config)",
            )
        # the selected epoch's name before 2026-12-03 (runs and committed records keep it)
        if "best_epoch" in data:
            data["selected_epoch"] = data.pop("best_epoch")
        missing = [k for k in COMPLETED_KEYS if k not in data]
        if data.get("status") == "completed" and missing:
            return cls(
                status="unreadable",
                run_dir=str(run),
                error=f"{run / SUMMARY} says completed but lacks {', '.join(missing)}: damaged",
            )
        if "config" in data:
            data["config"] = completed_config(data["config"])
        return cls(data, run_dir=str(run))

    def write(self) -> None:
        """Save the record atomically as its run directory's summary.json."""
        write_json(self.dir / SUMMARY, dict(self))

    @property
    def dir(self) -> Path:
        return Path(self["run_dir"])

    @property
    def name(self) -> str:
        return self.dir.name

    @cached_property
    def settings(self) -> dict:
        """The run's config as dotted keys ("dataset.name" -> "mnist"): what runs are grouped and compared by."""
        return flat_config(self.get("config") or {})

    @cached_property
    def _test_maps(self):
        from src.sensitivity import SensitivityResult

        path = self.dir / MAPS
        return SensitivityResult.load(path) if path.is_file() else None

    def test_maps(self):
        """The test-set SensitivityResult (src.evaluate's sensitivity.pt), None before it ran; read once."""
        return self._test_maps

    def epoch_metrics(self) -> list[dict]:
        """metrics.csv rows that carry an epoch-level value (val/acc or sens_mean/*), as floats; a damaged file is
        reported in one line and its curves left out (the run's test-set numbers do not depend on it)."""
        path = self.dir / "metrics.csv"
        if not path.is_file():
            return []
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            return [{k: float(v) for k, v in r.items() if k is not None and v not in ("", None)} for r in rows]
        except (OSError, ValueError, TypeError, csv.Error) as e:
            print(
                f"warning: {path} is damaged ({type(e).__name__}): its per-epoch curves are left out", file=sys.stderr
            )
            return []

    @property
    def completed(self) -> bool:
        """Training completed (whether or not it met its criterion, and whatever its files hold now)."""
        return self.get("status") == "completed"

    def checkpoint(self) -> Path:
        """The selected checkpoint, always a file inside the run directory, checked against the summary once.

        The summary stores it relative to the run (older summaries: an absolute path, of which only the file name is
        used, so a moved or archived run measures its own weights and never those now at its old path) and its
        sha256: a file whose content differs is refused (another run's or a retrained network's weights).
        """
        return self._verified_checkpoint

    @cached_property  # a failed check is not cached: it is raised again on the next call
    def _verified_checkpoint(self) -> Path:
        run, stored = self.dir, self.get("checkpoint") or ""
        if stored:
            ckpt = run / stored if not Path(stored).is_absolute() else run / "checkpoints" / Path(stored).name
        else:  # named best-*.ckpt before 2026-12-03
            found = sorted((run / "checkpoints").glob("selected-*.ckpt")) or sorted(
                (run / "checkpoints").glob("best-*.ckpt")
            )
            if not found:
                raise DataError(f"{run} has no checkpoint: expected {run}/checkpoints/selected-*.ckpt")
            ckpt = found[-1]
        if not ckpt.is_file():
            raise DataError(f"{run} has no checkpoint {ckpt.name}: expected {ckpt} (named by its summary.json)")
        expected = self.get("checkpoint_sha256")
        try:
            found = file_sha256(ckpt) if expected else None
        except OSError as e:  # permissions, an I/O error: one line naming the file
            raise DataError(f"{ckpt} cannot be read ({e.strerror or type(e).__name__}): fix its permissions") from None
        if expected and found != expected:
            raise DataError(
                f"{ckpt} is damaged or not the checkpoint its summary.json describes (sha256 differs): "
                "retrain the run or restore its own checkpoint"
            )
        return ckpt

    def finished(self) -> bool:
        """Completed, and its selected checkpoint is there and is the one the summary describes (sha256; a summary
        without one: the file loads). What "finished" means for a skip, in train and in the SLURM launcher alike."""
        if not self.completed:
            return False
        try:
            ckpt = self.checkpoint()
            if not self.get("checkpoint_sha256"):
                import torch

                torch.load(ckpt, map_location="cpu", weights_only=False)
        # DataError (missing, other content, unreadable) or any of torch's errors for a damaged file
        except Exception:
            return False
        return True

    def network(self, data_dir: str | None = None):
        """(the run's network with the weights of its selected checkpoint, its datamodule, not yet set up), the data
        read from `data_dir` when given. One-line DataErrors for weights that are damaged, another run's, diverged or
        of another network."""
        import hydra
        import torch

        from src.models.build import build_model

        cfg = OmegaConf.create(self["config"])
        if data_dir:
            cfg.dataset.data_dir = data_dir
        dm = hydra.utils.instantiate(cfg.dataset)
        net = build_model(cfg.get("model"), dm, cfg.kernel, cfg.padding)
        ckpt = self.checkpoint()
        try:
            saved = torch.load(ckpt, map_location="cpu", weights_only=False)
            state = saved["state_dict"]
        except Exception as e:  # torch raises several types for a damaged zip/pickle
            raise DataError(
                f"{ckpt} is damaged ({type(e).__name__}): retrain with the same command (delete "
                f"{self.dir}/summary.json first) or restore the file"
            ) from e
        hp = saved.get("hyper_parameters") or {}
        for key, setting in (("lr", "lr"), ("train_accuracy_criterion", "stop_train_accuracy")):
            if key in hp and setting in cfg and float(hp[key]) != float(cfg[setting]):
                raise DataError(
                    f"{ckpt} was trained with {setting}={hp[key]}, but its run's summary says "
                    f"{cfg[setting]}: these are not this run's weights"
                )
        weights = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
        bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise DataError(f"{ckpt} has non-finite weights ({', '.join(bad[:3])}): the network diverged; no maps")
        try:
            net.load_state_dict(weights)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise DataError(
                f"{ckpt} does not fit the network of its run (kernel={cfg.kernel}, padding={cfg.padding}): {first}"
            ) from e
        return net, dm


def find_runs(root: str | Path) -> list[Path]:
    """Run directories (holding summary.json) at or below root, sorted; a clear error if there are none."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ConfigError(f"run_dir={root} does not exist")
    if not root.is_dir():
        raise ConfigError(f"run_dir={root} is a file: give a run directory or a folder of runs")
    runs = sorted(p.parent for p in root.rglob(SUMMARY) if ".submitit" not in p.parts)
    if not runs:
        raise ConfigError(f"run_dir={root} holds no runs: no {SUMMARY} at or below it")
    return runs


def sweep_summaries(sweep_dir: str | Path) -> list[dict]:
    """The RunRecord of every job directly below a sweep directory, sorted by job name."""
    return [RunRecord.read(p.parent) for p in sorted(Path(sweep_dir).glob(f"*/{SUMMARY}"))]


def eligible_and_excluded(summaries: list[RunRecord]) -> tuple[list[RunRecord], list[dict]]:
    """(eligible, excluded): eligible runs completed and their selected checkpoint meets the training criterion;
    each excluded run gets a `reason` (failed, unfinished, unreadable, or never reached the training accuracy)."""
    eligible, excluded = [], []
    for s in summaries:
        if not s.completed:
            excluded.append(s | {"reason": f"{s.get('status')}: {s.get('error', 'no error recorded')}"})
        elif not s.get("meets_criterion", False):
            t = s.get("criterion", {}).get("train_accuracy", s["config"].get("stop_train_accuracy"))
            excluded.append(s | {"reason": f"no epoch reached training accuracy {t} in {s['epochs']} epochs"})
        else:
            eligible.append(s)
    return eligible, excluded


def flat_config(d: dict, prefix: str = "") -> dict:
    """A nested config as dotted keys: {"dataset": {"name": "mnist"}} -> {"dataset.name": "mnist"}."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out |= flat_config(v, f"{key}.") if isinstance(v, dict) else {key: v}
    return out


def settings_differences(old: dict, new: dict) -> str:
    """'' if two configs compute the same run, else the differing keys ('key: old -> new, ...'). Keys present in
    only one (an option added or moved since) and VOLATILE keys do not count; values under ${...} (paths resolved
    at run time) are not compared."""
    a, b = flat_config(old), flat_config(new)

    def volatile(key: str) -> bool:
        return any(key == v or key.startswith(f"{v}.") for v in VOLATILE)

    def unresolved(v) -> bool:
        return isinstance(v, str) and "${" in v

    shared = [k for k in a.keys() & b.keys() if not volatile(k) and not unresolved(a[k]) and not unresolved(b[k])]
    differ = sorted(k for k in shared if a[k] != b[k])
    shown = ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in differ[:4])
    return shown + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")


def check_same_settings(run: Path, config: dict) -> None:
    """Refuse to reuse a run directory whose summary holds other settings (a resume would mix two experiments)."""
    if not (run / SUMMARY).is_file():
        return
    summary = RunRecord.read(run)
    checkpoints = run / "checkpoints"
    if summary.get("status") == "unreadable" and checkpoints.is_dir() and any(checkpoints.glob("*.ckpt")):
        # a resume would continue weights whose settings can no longer be checked, under whatever settings it is given
        raise ConfigError(
            f"{run}: {summary['error']}, so the settings of its checkpoints cannot be checked: restore "
            f"summary.json, or delete {checkpoints} to train afresh"
        )
    old = summary.get("config")
    if not isinstance(old, dict) or not old:
        return
    differ = settings_differences(old, config)
    if differ:
        raise ConfigError(f"{run} holds a run with other settings ({differ}): use another hydra.run.dir")


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory; a second process on it gets a one-line ConfigError."""
    run.mkdir(parents=True, exist_ok=True)
    fd = os.open(run / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run} is in use by another process: wait for it, or use another directory") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
