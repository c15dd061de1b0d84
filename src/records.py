"""Committed records of finished networks: what a figure needs from a run, kept in the repository so that the work
outlives the machine that trained it (the paper protocol needs more CPU-hours than one machine keeps outputs/).

A record mirrors its run folder, records/<experiment>/<sweep>/<job>/ for outputs/<experiment>/<sweep>/<job>/:
  summary.json          the run's summary (settings, status, epochs, selected epoch, accuracies, criterion,
                        precision, the selected checkpoint's name and sha256, the per-epoch history) plus "record":
                        the commit that trained it, when and from which run folder it was recorded;
  sensitivity.pt        the selected checkpoint's maps on the figure's test images, once evaluated (~0.4 MB);
  epoch_profiles.json   per measured epoch, the class-mean radial profile of every point and metric on the
                        training callback's validation subset (the only maps that exist per epoch).
Never the checkpoint. `src.reproduce` counts a recorded job as done (src.train skips it): it trains only jobs without
a record, selects learning rates from local runs and records together and draws from both; a completed local run
wins over its record, a record over a local run that has not completed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from src.errors import DataError
from src.files import atomic_write, read_json, write_json
from src.runs import MAPS, SUMMARY, RunRecord

EPOCH_PROFILES = "epoch_profiles.json"
REPO = Path(__file__).resolve().parent.parent


def code_version() -> dict:
    """{"commit": the checkout's HEAD, "dirty": uncommitted changes to tracked files}; Nones outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if dirty is None else bool(dirty)}


def _trained_commit(summary: dict) -> dict:
    """The commit the run was trained from: its summary's, or (summaries written before they held one) the last commit
    before the run started, marked as inferred."""
    code = summary.get("code")
    if isinstance(code, dict) and code.get("commit"):
        return code
    started = summary.get("started_at")
    if started is None:
        return {"commit": None}
    out = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%H", f"--before=@{int(started)}"],
        capture_output=True,
        text=True,
    )
    return {"commit": out.stdout.strip() or None, "inferred": "the last commit before the run started"}


def epoch_profiles(run: Path) -> dict[str, dict[str, list[float]]]:
    """{"<epoch>": {"<layer>/<metric>": class-mean radial profile, radius 0..R px}} of the maps the training
    callback measured after each epoch (its validation subset); a record's stored copy, else the run's files."""
    if (run / EPOCH_PROFILES).is_file():
        return read_json(run / EPOCH_PROFILES)
    from src import wandb_log
    from src.callbacks.sensitivity import EPOCHS_DIR
    from src.sensitivity import SensitivityResult

    out = {}
    for path in sorted((run / EPOCHS_DIR).glob("epoch=*.pt")):
        result = SensitivityResult.load(path)
        out[str(int(path.stem.split("=")[1]))] = wandb_log.profiles(result) | {"images": int(result.counts.sum())}
    return out


def _maps_of_selected_weights(run: RunRecord) -> bool:
    """Whether the run's sensitivity.pt was measured on the checkpoint its summary selects (not stale)."""
    from src.sensitivity import SensitivityResult

    if not (run.dir / MAPS).is_file():
        return False
    stored = (SensitivityResult.load(run.dir / MAPS).meta.get("settings") or {}).get("checkpoint", "")
    ckpt = run.checkpoint()  # checks the sha256 against the summary
    st = ckpt.stat()
    return stored == f"{ckpt.name}:{st.st_size}:{st.st_mtime_ns}"


def write_record(run: Path, record: Path) -> list[str]:
    """Record a completed run in `record` (a folder); returns the files written ([] if it was up to date).

    Maps are recorded only when they were measured on the selected checkpoint (its identity in their settings, its
    sha256 against the summary), and before the summary that says so; a record keeps the maps it holds while the
    weights are the same, and drops them when the run now holds another network."""
    summary = RunRecord.read(run)
    if not summary.completed:
        raise DataError(f"{run} has not completed training: nothing to record")
    previous = RunRecord.read(record) if (record / SUMMARY).is_file() else {}
    if previous.get("checkpoint_sha256") != summary.get("checkpoint_sha256"):
        (record / MAPS).unlink(missing_ok=True)  # another network: maps of the old one do not describe it
    written = []
    if _maps_of_selected_weights(summary) and _differs(record / MAPS, (run / MAPS).read_bytes()):
        atomic_write(record / MAPS, lambda p: p.write_bytes((run / MAPS).read_bytes()))
        written.append(MAPS)
    entry = {k: v for k, v in summary.items() if k not in ("run_dir", "pid")}
    entry["record"] = {"trained_at": _trained_commit(summary), "source": str(run), "maps": (record / MAPS).is_file()}

    def content(s: dict) -> tuple:  # what a record says, apart from where and when it was written
        return {k: v for k, v in s.items() if k not in ("run_dir", "record")}, (s.get("record") or {}).get("maps")

    if content(previous) != content(entry):
        entry["record"]["recorded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_json(record / SUMMARY, entry)
        written.append(SUMMARY)
    profiles = epoch_profiles(run)
    if profiles and (not (record / EPOCH_PROFILES).is_file() or read_json(record / EPOCH_PROFILES) != profiles):
        write_json(record / EPOCH_PROFILES, profiles)
        written.append(EPOCH_PROFILES)
    return written


def _differs(path: Path, data: bytes) -> bool:
    return not path.is_file() or path.read_bytes() != data


def record_sweep(sweep: Path, records: Path) -> dict[str, list[str]]:
    """write_record for every completed job folder at or below `sweep`, into the same relative place below
    `records`; {job: files written}. Unfinished jobs are left for a later call."""
    done = {}
    for summary_file in sorted(Path(sweep).rglob(SUMMARY)):
        run = summary_file.parent
        if ".submitit" in run.parts or not RunRecord.read(run).completed:
            continue
        job = run.relative_to(sweep)
        done[str(job)] = write_record(run, Path(records) / job)
    return done


def recorded(record: Path) -> RunRecord | None:
    """The record's summary if it is a completed run's record, else None."""
    summary = RunRecord.read(record)
    return summary if summary.completed and "record" in summary else None


def merged_summaries(sweep: Path, records: Path | None) -> list[RunRecord]:
    """The jobs of one sweep folder, one RunRecord each, from its local runs and its records (a record's run_dir is
    the record folder): a completed local run wins over its record, a record over a local
    run that has not completed. Sorted by job name."""
    local = {p.parent.name: RunRecord.read(p.parent) for p in Path(sweep).glob(f"*/{SUMMARY}")}
    kept = dict(local)
    if records is not None:
        for p in Path(records).glob(f"*/{SUMMARY}"):
            rec = recorded(p.parent)
            if rec is not None and not (p.parent.name in local and local[p.parent.name].completed):
                kept[p.parent.name] = rec
    return [kept[name] for name in sorted(kept)]


def has_maps(run: dict) -> bool:
    """Whether a summary from `merged_summaries` can give its maps: a local run (evaluated now if needed) or a record
    holding them."""
    return "record" not in run or (Path(run["run_dir"]) / MAPS).is_file()


def main(argv: list[str]) -> int:
    """python -m src.records <sweep folder> <records folder>: record every completed job of a sweep (e.g. runs
    started by an older version, or harvested from a cluster's outputs)."""
    if len(argv) != 2:
        print("usage: python -m src.records <sweep folder below outputs/> <its records folder>", file=sys.stderr)
        return 2
    sweep, records = Path(argv[0]), Path(argv[1])
    if not sweep.is_dir():
        print(f"error: {sweep} is not a folder", file=sys.stderr)
        return 2
    try:
        done = record_sweep(sweep, records)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for job, files in done.items():
        print(f"{records / job}: {', '.join(files) if files else 'up to date'}")
    print(f"{len(done)} completed jobs recorded in {records}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
