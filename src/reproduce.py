"""Regenerate a figure of the paper: `python -m src.reproduce figure=2 preset=quick` (or `make fig2 PRESET=quick`).

1. Train: one Hydra multirun per learning rate into <outputs>/<experiment>/<preset>/ (finished jobs are skipped, so
   an interrupted call resumes).
2. Select: per kernel, the learning rate with the best mean validation accuracy over seeds; if it lies at an edge of
   the rates tried, train one step past that edge (+0.001 above; -0.001 below, or half when that would reach 0) and
   select again.
3. Evaluate the selected runs (`src.evaluate`), 4. draw figures/figN.{png,pdf} and write figures/figN.json with the
   numbers behind the figure.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from src.cli import check_launcher_available, run_cli, user_errors_exit
from src.conf import CONF_DIR
from src.errors import ConfigError, DataError
from src.files import atomic_write, read_json, writable_folder, write_json
from src.records import has_maps, merged_summaries, write_record
from src.runs import MAPS, eligible_and_excluded, sweep_summaries
from src.sensitivity.metrics import PAPER_METRIC

LR_STEP = 0.001  # the paper's step when a sweep is widened


def sweep_runs(
    sweep_dir: Path, seeds: list[int] | None = None, records: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """(eligible, excluded) runs below sweep_dir, and recorded in `records` (src.records.merged_summaries), see
    src.runs.eligible_and_excluded; with `seeds`, only runs of those seeds (a preset sharing a sweep folder with a
    larger one draws only its own seeds)."""
    summaries = merged_summaries(sweep_dir, records) if records is not None else sweep_summaries(sweep_dir)
    if seeds is not None:
        wanted = set(seeds)
        summaries = [s for s in summaries if (s.get("config") or {}).get("seed", -1) in wanted]
    return eligible_and_excluded(summaries)


def select_lr(runs: list[dict], kernel: int) -> tuple[float, list[float]]:
    """(best learning rate by mean validation accuracy over seeds, all rates tried) for one kernel. A tie (5,000
    validation images: accuracies move in steps of 0.0002) goes to the lowest of the tied rates."""
    by_lr: dict[float, list[float]] = {}
    for r in runs:
        if r["config"]["kernel"] == kernel:
            by_lr.setdefault(float(r["config"]["lr"]), []).append(r["val_acc"])
    if not by_lr:
        raise DataError(
            f"no eligible run for kernel={kernel}: training failed, has not run, or never met the training criterion"
        )
    best = max(sorted(by_lr), key=lambda lr: statistics.mean(by_lr[lr]))
    return best, sorted(by_lr)


def next_lr(best: float, tried: list[float]) -> float | None:
    """One step past the edge where the best rate lies, or None if it is inside the sweep."""
    if len(tried) > 1 and tried[0] < best < tried[-1]:
        return None
    if best == tried[-1]:
        return round(best + LR_STEP, 6)
    return round(best - LR_STEP, 6) if best - LR_STEP > 0 else round(best / 2, 6)


# Hydra's own, beside conf/hydra/launcher
HYDRA_LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm")


def launchers() -> list[str]:
    """Every name `launcher=` takes: the project's conf/hydra/launcher/*.yaml and Hydra's installed launchers."""
    return sorted({p.stem for p in (CONF_DIR / "hydra" / "launcher").glob("*.yaml")} | set(HYDRA_LAUNCHERS))


def launcher_overrides(launcher: str | None, jobs: int | None = None) -> list[str]:
    """Hydra overrides for `launcher` (null: one job at a time, every core; on the 2-core CPU `make bench` found two
    one-thread jobs side by side no faster in total: 0.97-1.00x). `parallel` runs min(cores, jobs) jobs side by side
    and gives each its share of the cores: a sweep of one job (a widening step) gets them all, not one."""
    if launcher is not None and launcher not in launchers():
        raise ConfigError(f"launcher={launcher!r} is not allowed: use null or one of {launchers()}")
    check_launcher_available(launcher)
    if launcher == "parallel":
        cores = os.cpu_count() or 1
        side_by_side = max(1, min(cores, jobs or cores))
        return ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={side_by_side}", f"threads={cores // side_by_side}"]
    return [f"hydra/launcher={launcher}"] if launcher else []


def train_sweep(
    cfg: DictConfig,
    experiment: str,
    kernels: list[int],
    lrs: list[float],
    sweep_dir: Path,
    overrides: list[str] = (),
    seeds: list[int] | None = None,
    records: Path | None = None,
) -> None:
    """One Hydra multirun over kernels x lrs x seeds (default: the preset's); finished jobs, and jobs recorded in
    `records`, are skipped by src.train, which records each job it finishes there."""
    seeds = list(cfg.preset.seeds) if seeds is None else seeds
    # seed first: Hydra runs the product in this order, so a partial sweep has every kernel at similar n
    swept = [
        f"{key}={','.join(map(str, values))}" for key, values in (("seed", seeds), ("kernel", kernels), ("lr", lrs))
    ]
    cmd = [sys.executable, "-m", "src.train", "-m", f"experiment={experiment}", *swept, f"hydra.sweep.dir={sweep_dir}"]
    cmd += ["trainer.enable_progress_bar=false", f"tags=[{experiment},{cfg.preset.name}]", *cfg.preset.train_overrides]
    cmd += [*overrides, *cfg.extra_overrides]
    cmd += [f"records={records.resolve()}"] if records is not None else []
    jobs = len(kernels) * len(lrs) * len(seeds)
    cmd += launcher_overrides(cfg.launcher, jobs)
    print(f"training {jobs} jobs (finished ones are skipped; each prints a 'done' line):", flush=True)
    print("+", " ".join(cmd), flush=True)
    returncode = run_child(cmd)
    if returncode in (130, 143):  # the sweep was stopped (Ctrl-C, SIGTERM): so is the pipeline
        raise SystemExit(returncode)
    if returncode and not cfg.allow_failed:
        raise DataError(
            f"training failed in {sweep_dir} (exit {returncode}; the failed jobs are listed above and in their "
            "summary.json): fix them and run the same command again, or allow_failed=true to draw from the "
            "runs that completed"
        )
    if returncode:
        print(
            "warning: some jobs failed (listed above); allow_failed=true: drawing from the runs that completed",
            file=sys.stderr,
        )


def run_child(cmd: list[str]) -> int:
    """Run `cmd` and return its exit status; SIGTERM and SIGINT sent to this process are passed on to it (and we
    wait for it to stop), so a cancelled reproduction never leaves a training sweep running behind it."""

    proc = subprocess.Popen(cmd)

    def forward(signum, frame):
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def choose_lr(
    kernel: int,
    runs: Callable[[], list[dict]],
    train: Callable[[float], None],
    extend: bool,
    max_extensions: int,
    grid: list[float] = (),
) -> tuple[float, list[float]]:
    """(selected rate, rates tried) for one kernel; while the best rate lies at an edge, train one step past it.

    `runs()` gives the eligible runs so far and `train(lr)` trains every seed at `lr`. The edges are those of every
    rate trained (`grid` and the widening steps), eligible or not: a best rate next to a rate that never met the
    criterion is inside the sweep. At most `max_extensions` rates are added, and the selection after the last one is
    final, so every rate trained is also considered.
    """
    best, tried = select_lr(runs(), kernel)
    trained = set(grid) | set(tried)
    for _ in range(max_extensions if extend else 0):
        step = next_lr(best, sorted(trained))
        if step is None or step in trained:
            break
        print(f"kernel {kernel}: best lr {best} is at the edge of {sorted(trained)}: widening to {step}", flush=True)
        train(step)
        trained.add(step)
        best, tried = select_lr(runs(), kernel)
    return best, sorted(set(tried) | trained)


def records_of(cfg: DictConfig, path: Path) -> Path | None:
    """Where a sweep folder or run folder below `outputs` is recorded (<records_dir>/<experiment>/<sweep>/...), for
    presets that keep records (`record: true`); None for the others."""
    if not cfg.preset.get("record", False):
        return None
    return Path(cfg.records_dir) / path.relative_to(cfg.outputs)


def selected_runs(
    cfg: DictConfig,
    experiment: str,
    kernels: list[int],
    sweep_dir: Path,
    overrides: list[str] = (),
    measure: Callable[[int, list[dict]], None] | None = None,
) -> tuple[dict[int, list[dict]], list[dict], dict]:
    """Train what is missing, widen the lr sweep at edges; (kernel -> eligible runs of the selected lr, excluded runs,
    kernel -> the selection: rates tried with their validation accuracies, the rate selected, the widening steps).

    Full grid (the preset has no `select_seeds`): every seed at every rate, the rate with the best mean validation
    accuracy over seeds. Staged (`select_seeds`, e.g. [0]): every rate on those seeds, the rate selected (and widened)
    on them alone, the other seeds at that rate only.

    A preset that keeps records goes kernel by kernel, and `measure(kernel, runs)` measures each kernel's selected
    runs as soon as they exist (recorded with their maps): a sitting that ends loses only the network in progress."""
    records = records_of(cfg, sweep_dir)
    seeds = list(cfg.preset.seeds)
    planning = [s for s in (cfg.preset.get("select_seeds") or seeds) if s in seeds] or seeds
    others = [s for s in seeds if s not in planning]
    if cfg.train and records is None:  # one sweep: the launcher spreads every kernel's jobs at once
        train_sweep(cfg, experiment, kernels, list(cfg.preset.lrs), sweep_dir, overrides, planning, records)
    chosen, selection = {}, {}
    for k in kernels:
        if cfg.train and records is not None:
            train_sweep(cfg, experiment, [k], list(cfg.preset.lrs), sweep_dir, overrides, planning, records)
        best, tried = choose_lr(
            k,
            runs=lambda: sweep_runs(sweep_dir, planning, records)[0],
            train=lambda lr, k=k: train_sweep(cfg, experiment, [k], [lr], sweep_dir, overrides, planning, records),
            extend=cfg.preset.extend_edges,
            max_extensions=cfg.max_extensions,
            grid=list(cfg.preset.lrs),
        )
        if others and cfg.train:
            train_sweep(cfg, experiment, [k], [best], sweep_dir, overrides, others, records)
        eligible, out = sweep_runs(sweep_dir, seeds, records)
        chosen[k] = [r for r in eligible if r["config"]["kernel"] == k and r["config"]["lr"] == best]
        selection[k] = selection_record(eligible, out, k, best, tried, list(cfg.preset.lrs), planning)
        chosen[k] = retrain_for_maps(cfg, experiment, k, best, chosen[k], sweep_dir, overrides, records)
        if measure is not None and records is not None:
            measure(k, chosen[k])
    excluded = [r for r in sweep_runs(sweep_dir, seeds, records)[1] if r.get("config", {}).get("kernel") in kernels]
    chosen, foreign = refuse_foreign(cfg, experiment, chosen, overrides)
    chosen, unpaired = common_seeds(chosen)
    excluded += foreign + unpaired
    for r in excluded:
        print(f"excluded {r['run_dir']}: {r['reason']}", file=sys.stderr)
    return chosen, excluded, selection


def selection_record(
    eligible: list[dict],
    excluded: list[dict],
    kernel: int,
    best: float,
    tried: list[float],
    grid: list[float],
    planning: list[int],
) -> dict:
    """What the figure's JSON says of one kernel's learning-rate selection: every rate trained, each seed's epochs,
    validation accuracy and whether it met the criterion (else why not), its epoch-end cosine per point at the
    selected epoch; the selected rate, the rates added by widening, the seeds that selected it."""
    from src.figures.training_level import selected_epoch_cosine

    by_lr: dict[str, list[dict]] = {}
    runs = [(r, None) for r in eligible] + [(r, r["reason"]) for r in excluded if "config" in r]
    for r, reason in sorted(runs, key=lambda x: (x[0]["config"]["lr"], x[0]["config"]["seed"])):
        if r["config"].get("kernel") == kernel:
            by_lr.setdefault(str(r["config"]["lr"]), []).append(
                {
                    "seed": r["config"]["seed"],
                    "epochs": r.get("epochs"),
                    "selected_epoch": r.get("selected_epoch"),
                    "val_acc": r.get("val_acc"),
                    "met_criterion": reason is None,
                    "excluded": reason,
                    "wall_time_s": r.get("wall_time_s"),
                    # the callback's validation subset at the selected epoch: the rate's effect, from runs that exist
                    "epoch_end_cosine": selected_epoch_cosine(r),
                }
            )
    widened = [lr for lr in tried if lr not in grid]
    return dict(selected_lr=best, rates_tried=tried, widened=widened, selected_on_seeds=planning, runs_by_lr=by_lr)


def retrain_for_maps(
    cfg: DictConfig,
    experiment: str,
    kernel: int,
    lr: float,
    runs: list[dict],
    sweep_dir: Path,
    overrides: list[str],
    records: Path | None,
) -> list[dict]:
    """`runs` where each one's maps can be had: a selected network known only from a record without maps (it was
    recorded before its evaluation, and its checkpoint was lost with its machine) is trained again (records=null:
    not skipped), then evaluated like any local run."""
    missing = [r for r in runs if not has_maps(r)]
    if not missing:
        return runs
    names = ", ".join(r["run_dir"] for r in missing)
    if not cfg.train:
        raise DataError(
            f"the selected networks {names} are recorded without maps and their runs are not here: "
            "train=true trains them again (same settings and seed) and evaluates them"
        )
    print(f"kernel {kernel}: {names} recorded without maps: training them again to measure them", flush=True)
    seeds = [r["config"]["seed"] for r in missing]
    train_sweep(cfg, experiment, [kernel], [lr], sweep_dir, [*overrides, "records=null"], seeds)
    local = {r.name: r for r in sweep_runs(sweep_dir, list(cfg.preset.seeds))[0]}
    again = [local.get(r.name) for r in missing]
    if None in again:
        raise DataError(f"training {names} again did not complete: see the training output above")
    for old, new in zip(missing, again, strict=True):
        if new.get("checkpoint_sha256") != old.get("checkpoint_sha256"):
            print(
                f"note: {new['run_dir']}: the retrained weights differ from the recorded ones (another machine's "
                "arithmetic); its record now describes the new network",
                file=sys.stderr,
            )
    return [r for r in runs if has_maps(r)] + again


def expected_config(
    cfg: DictConfig,
    experiment: str,
    overrides: list[str] = (),
    kernel: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
) -> DictConfig:
    """The training config a job of this preset gets (composed as src.train composes it); a refused or unknown
    override is a ConfigError naming it, before any training."""
    from hydra import compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # in train_sweep's order: a later override wins, so extra_overrides can replace the swept keys
    job = [f"experiment={experiment}"]
    job += [f"{k}={v}" for k, v in (("seed", seed), ("kernel", kernel), ("lr", lr)) if v is not None]
    job += [*cfg.preset.train_overrides, *overrides, *cfg.extra_overrides]
    try:
        return compose("train", overrides=job)
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"the training settings {job} are refused: {first}") from None


def check_training_settings(cfg: DictConfig, experiment: str, kernels: list[int], overrides: list[str] = ()):
    """Every network of the figure passes src.train's checks, before the first one trains."""
    from src.train import check_config

    for k in kernels:
        for lr in cfg.preset.lrs:
            check_config(expected_config(cfg, experiment, overrides, k, lr, cfg.preset.seeds[0]))


def refuse_foreign(
    cfg: DictConfig, experiment: str, chosen: dict[int, list[dict]], overrides: list[str] = ()
) -> tuple[dict[int, list[dict]], list[dict]]:
    """(runs whose settings are the preset's, refused runs with a `reason`): a run placed in the sweep folder by
    another command (other dataset, padding, criterion or extra overrides) is never averaged into the figure."""
    from src.runs import settings_differences

    kept, refused = {}, []
    for k, runs in chosen.items():
        kept[k] = []
        for r in runs:
            c = r["config"]
            want = expected_config(cfg, experiment, overrides, c["kernel"], c["lr"], c["seed"])
            differ = settings_differences(c, OmegaConf.to_container(want, resolve=False))
            if differ:
                reason = f"settings differ from preset {cfg.preset.name}'s ({differ})"
                print(f"refused {r['run_dir']}: {reason}", file=sys.stderr)
                refused.append(r | {"reason": reason})
            else:
                kept[k].append(r)
    return kept, refused


def common_seeds(chosen: dict) -> tuple[dict, list[dict]]:
    """Keep only the seeds every network has (claims pair seed i with seed i), sorted by seed; the others are
    returned as excluded, each with its reason."""
    if not chosen:
        return chosen, []
    seeds = set.intersection(*({r["config"]["seed"] for r in runs} for runs in chosen.values()))

    def seed(run: dict) -> int:
        return run["config"]["seed"]

    kept = {k: sorted((r for r in runs if seed(r) in seeds), key=seed) for k, runs in chosen.items()}
    unpaired = [r for runs in chosen.values() for r in runs if seed(r) not in seeds]
    why = "is missing from another network of the figure (unpaired)"
    dropped = [r | {"reason": f"seed {seed(r)} {why}"} for r in unpaired]
    for r in dropped:
        print(f"left out {r['run_dir']}: {r['reason']}", file=sys.stderr)
    return kept, dropped


def evaluate(cfg: DictConfig, runs: dict[int, list[dict]], maps: str = "paper") -> dict[int, list]:
    """kernel -> the SensitivityResults of its selected runs (computed where missing); maps "paper": the evaluate
    config's points; "all": every stage (layers=all, into src.figures.depth.OUTPUT)."""
    from src.evaluate import evaluate_run
    from src.figures import depth
    from src.sensitivity import SensitivityResult

    ecfg = evaluate_config(cfg)
    if maps == "all":
        ecfg = OmegaConf.merge(ecfg, {"layers": ["all"], "output": depth.OUTPUT})
    results = {}
    for k, rs in runs.items():
        results[k] = []
        for r in rs:
            run = r.dir
            if "record" in r:  # a committed record: its maps, if measured as this figure measures
                results[k].append(recorded_maps(run, ecfg))
                continue
            evaluate_run(run, ecfg)
            if (record := records_of(cfg, run)) is not None and ecfg.output == MAPS:
                write_record(run, record)
            results[k].append(SensitivityResult.load(run / ecfg.output))
    return results


def recorded_maps(record: Path, ecfg: DictConfig):
    """A record's maps, refused in one line unless measured as `ecfg` measures (points, shifts, images, precision,
    metrics): a record is never mixed into a figure measured otherwise."""
    from src.evaluate import measurement_settings_of
    from src.sensitivity import SensitivityResult

    if ecfg.output != MAPS or not (record / ecfg.output).is_file():
        raise DataError(f"{record} records no {ecfg.output}: train=true trains that network again to measure it")
    result = SensitivityResult.load(record / ecfg.output)
    stored = result.meta.get("settings") or {}
    settings = measurement_settings_of(ecfg, stored.get("checkpoint", ""))
    if settings.compare(stored) != "complete":
        raise DataError(
            f"{record / ecfg.output} was measured with other settings ({settings.differences(stored)}"
            f"{', metrics ' + str(stored.get('metrics')) if settings.missing_metrics(stored) else ''}):"
            " train=true and a local run measure it again"
        )
    return result


def evaluate_config(cfg: DictConfig) -> DictConfig:
    """conf/evaluate.yaml with the preset's images per class and the figure's evaluate_overrides."""
    base = OmegaConf.load(CONF_DIR / "evaluate.yaml")
    for key in ("defaults", "hydra"):
        base.pop(key)
    ecfg = OmegaConf.merge(base, {"images_per_class": cfg.preset.images_per_class, "run_dir": ""})
    ecfg = OmegaConf.merge(ecfg, OmegaConf.from_dotlist(list(cfg.evaluate_overrides)))
    if cfg.output_layer not in ecfg.layers and list(ecfg.layers) != ["all"]:
        raise ConfigError(f"output_layer={cfg.output_layer!r} is not measured: evaluate layers are {list(ecfg.layers)}")
    return ecfg


def figure_numbers(
    cfg: DictConfig,
    figure: str,
    runs: dict,
    results: dict,
    excluded: list[dict],
    depth: dict | None = None,
    selection: dict | None = None,
) -> dict:
    """Everything figure N draws and claims, as plain JSON-ready data (each seed's values kept): what every figure
    records (provenance, accuracies, excluded runs), then its kind's numbers (`src.figures.KINDS`). runs and results
    are keyed by kernel, or by variant name for figures with variants; depth: results at every stage."""
    from src.figures import FIGURES, KINDS, FigureInputs, accuracy_table
    from src.sensitivity.stats import shifts_per_radius

    spec = FIGURES[figure]
    some = next((res[0] for res in results.values() if res), None)
    max_shift = some.max_shift if some else int(evaluate_config(cfg).max_shift)
    numbers = {
        "figure": figure,
        "name": figure_name(figure, cfg.metric, cfg.preset.get("figure_suffix", "")),
        "title": spec.title,
        "metric": cfg.metric,
        "experiment": spec.experiment,
        "preset": OmegaConf.to_container(cfg.preset),
        "output_layer": cfg.output_layer,
        "provenance": f"preset={cfg.preset.name} | {time.strftime('%Y-%m-%d')} | python -m src.reproduce figure={figure}"
        + (f" extra_overrides={list(cfg.extra_overrides)}" if cfg.extra_overrides else ""),
        "max_shift": max_shift,
        "shifts_per_radius": shifts_per_radius(max_shift),
        "full_rings": f"radii 0..{max_shift}; larger radii are corner-only rings",
        "images_per_class": some.counts.tolist() if some else None,
        "band": "±1 standard deviation over seeds (n-1)",
        "statistics": "claims: paired differences over seeds of the r = 1..S mean cosine; directional claims by 95 % "
        "t intervals, 'no effect' claims by TOST against their margin; p_holm / verdict_holm: Holm across the "
        "figure's claims at one measuring point; per-radius results are exploratory (no correction)",
        "precision": figure_precision(runs, results),
        "accuracy": accuracy_table(runs),
        "excluded_runs": [{"run_dir": r["run_dir"], "reason": r["reason"]} for r in excluded],
    }
    if selection is not None:
        numbers["selection"] = selection
    # the paper protocol: does training to its level change the invariance?
    if cfg.preset.get("record", False):
        from src.figures.training_level import training_level

        numbers["training_level"] = training_level(runs, max_shift, cfg.preset.get("compare_criterion"))
    options = {"variants": bool(spec.variants), "depth": depth, "metric": cfg.metric}
    inputs = FigureInputs(
        runs, results, cfg.output_layer, max_shift, cfg.preset.images_per_class, spec.claims, **options
    )

    def seed_of(meta: dict) -> str:  # from the run folder's name
        return meta.get("run", "?").rsplit("seed=", 1)[-1].split(",")[0]

    measured = [(label, r.meta) for label, res in inputs.labelled(results).items() for r in res]
    degenerate = {
        f"{label} seed {seed_of(m)}: {layer}" for label, m in measured for layer in m.get("degenerate_layers", [])
    }
    numbers["degenerate"] = sorted(degenerate)
    return numbers | KINDS[spec.kind].numbers(inputs)


def figure_name(figure: str, metric: str = PAPER_METRIC, suffix: str = "") -> str:
    """figures/<name>.*: fig2, levers, ...; a preset's `figure_suffix` (fig2_paper) and another metric than the
    paper's cosine (fig2_distance) are in the name, so neither overwrites the figure of the default protocol."""
    base = f"fig{figure}" if figure[0].isdigit() else figure
    return base + (suffix or "") + ("" if metric == PAPER_METRIC else f"_{metric}")


def redraw_numbers(figure: str, metric: str, fig_dir: Path, suffix: str = "") -> dict:
    """The figure's JSON for a redraw: in figures_dir, else the committed one (so a redraw can write into a new,
    empty folder); for another metric, the paper's (cosine) JSON when the metric's own is missing: its radial
    numbers hold every metric, so the figure and its claims are redrawn on `metric`."""
    from src.figures import check_numbers

    committed = CONF_DIR.parent / "figures"
    names = [figure_name(figure, metric, suffix), figure_name(figure, suffix=suffix)]
    found = [d / f"{n}.json" for n in names for d in (fig_dir, committed) if (d / f"{n}.json").is_file()]
    source = found[0] if found else fig_dir / f"{names[0]}.json"
    numbers = read_json(source)
    check_numbers(numbers, source, figure)
    if metric != numbers.get("metric", PAPER_METRIC):
        missing = [la for la, by_metric in numbers["radial"].items() if metric not in by_metric]
        if missing:
            raise DataError(f"{source} has no {metric!r} profiles at {missing}: rerun the figure with metric={metric}")
        numbers |= {"metric": metric, "name": names[0]}
    return numbers


def figure_precision(runs: dict, results: dict) -> dict:
    """{"training": ..., "maps": ...}: the one arithmetic of every network of a figure; a figure never mixes
    precisions (ConfigError naming them)."""
    training = {str(r["config"].get("trainer", {}).get("precision", "32-true")) for rs in runs.values() for r in rs}
    maps = {str((r.meta.get("settings") or {}).get("autocast") or "fp32") for rs in results.values() for r in rs}
    for what, found in (("training", training), ("maps", maps)):
        if len(found) > 1:
            raise ConfigError(f"the networks of this figure mix {what} precisions {sorted(found)}: a figure uses one")
    return {"training": next(iter(training), None), "maps": next(iter(maps), None)}


def write_numbers(numbers: dict, fig_dir: Path) -> list[Path]:
    """figures/<name>.json, and <name>_radial.csv (one row per layer, metric, label, seed, radius) when radial."""
    from src.figures.radial import radial_csv

    written = [write_json(fig_dir / f"{numbers['name']}.json", numbers)]
    if "radial" in numbers:
        text = radial_csv(numbers["radial"], numbers["max_shift"])
        written.append(atomic_write(fig_dir / f"{numbers['name']}_radial.csv", lambda p: p.write_text(text)))
    return written


@hydra.main(version_base="1.3", config_path="../conf", config_name="reproduce")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    fig_dir = check_output_settings(cfg)
    # from the committed numbers alone: no runs needed; claims re-scored with today's statistics
    if cfg.redraw:
        numbers, written = rescored_numbers(cfg, fig_dir)
    else:
        numbers = computed_numbers(cfg)
        written = write_numbers(numbers, fig_dir)
    from src.figures import draw

    written += draw(numbers, fig_dir, provenance=cfg.provenance, corner_radii=cfg.corner_radii)
    for path in written:
        print(f"wrote {path}")
    print_claims(numbers.get("claims", []))


def check_output_settings(cfg: DictConfig) -> Path:
    """figure, figures_dir and metric checked before any work; returns the figures folder (created)."""
    from src.figures import FIGURES, KINDS, radial
    from src.sensitivity.metrics import METRICS

    if str(cfg.figure) not in FIGURES:
        raise ConfigError(f"figure={cfg.figure} is not allowed: use one of {list(FIGURES)}")
    fig_dir = writable_folder("figures_dir", cfg.figures_dir)  # found now, not after an hour of training
    if cfg.metric not in METRICS:
        raise ConfigError(f"metric={cfg.metric!r} is not allowed: use one of {list(METRICS)}")
    # only the radial kinds draw on any metric: another kind's JSON named after the metric would hold cosine numbers
    if cfg.metric != PAPER_METRIC and KINDS[FIGURES[str(cfg.figure)].kind].key != radial.KEY:
        raise ConfigError(
            f"metric={cfg.metric} applies to radial figures only; figure={cfg.figure} is drawn on {PAPER_METRIC}"
        )
    check_preset(cfg.preset)
    return fig_dir


def check_preset(preset: DictConfig) -> None:
    """The preset's lists hold what a sweep needs (one line naming the key otherwise), before any training."""
    for key, kind in (("seeds", int), ("kernels", int), ("lrs", float)):
        values = preset.get(key)
        if not isinstance(values, Sequence | ListConfig) or isinstance(values, str) or not values:
            raise ConfigError(f"preset.{key}={values!r} is not allowed: a non-empty list, e.g. preset.{key}=[...]")
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) < len(values) or not all(
            (kind is float or v == int(v)) and (key == "seeds" or v > 0) for v in numbers
        ):
            raise ConfigError(
                f"preset.{key}={list(values)} is not allowed: "
                + ("integers" if kind is int else "positive numbers")
                + (" > 0" if key != "seeds" else "")
            )
    chosen = preset.get("select_seeds")
    if chosen is not None and not set(chosen) & set(preset.seeds):
        raise ConfigError(f"preset.select_seeds={list(chosen)} selects on none of preset.seeds={list(preset.seeds)}")


def rescored_numbers(cfg: DictConfig, fig_dir: Path) -> tuple[dict, list[Path]]:
    """redraw=true: the figure's saved numbers, with its claims scored again (and the JSON rewritten) when radial."""
    from src.figures import FIGURES
    from src.figures.claims import claims_for

    figure = str(cfg.figure)
    suffix = cfg.preset.get("figure_suffix", "")
    numbers = redraw_numbers(figure, cfg.metric, fig_dir, suffix)
    written = []
    if "radial" in numbers and FIGURES[figure].claims:
        measured = (numbers["radial"], numbers["output_layer"], numbers["max_shift"])
        numbers |= claims_for(FIGURES[figure].claims, *measured, cfg.metric)
        written.append(write_json(fig_dir / f"{figure_name(figure, cfg.metric, suffix)}.json", numbers))
    return numbers, written


def computed_numbers(cfg: DictConfig) -> dict:
    """Train what is missing, select each network's checkpoint, evaluate it and compute the figure's numbers."""
    from src.figures import FIGURES, KINDS

    figure = str(cfg.figure)
    spec = FIGURES[figure]
    kernels = spec.kernels or list(cfg.preset.kernels)
    sweep_dir = Path(cfg.outputs) / spec.experiment / cfg.preset.sweep
    # every setting is checked now, not after an hour of training
    launcher_overrides(cfg.launcher)
    evaluate_config(cfg)
    for overrides in spec.variants.values() or [[]]:
        check_training_settings(cfg, spec.experiment, kernels, list(overrides))
    extra = {}
    if spec.variants:  # one network (the spec's kernel) per variant, each variant its own sweep folder
        runs, excluded = {}, []
        for variant, overrides in spec.variants.items():
            chosen, out, _ = selected_runs(cfg, spec.experiment, kernels, sweep_dir / variant, list(overrides))
            runs[variant], excluded = chosen[kernels[0]], excluded + out
        extra["depth"] = evaluate(cfg, runs, maps="all")
    else:
        maps = KINDS[spec.kind].maps
        measure = (lambda k, rs: evaluate(cfg, {k: rs}, maps)) if maps else None
        runs, excluded, selection = selected_runs(cfg, spec.experiment, kernels, sweep_dir, measure=measure)
        extra["selection"] = selection
    maps = KINDS[spec.kind].maps
    results = evaluate(cfg, runs, maps) if maps else {}
    return figure_numbers(cfg, figure, runs, results, excluded, **extra)


def print_claims(claims: list[dict]) -> None:
    """One line per claim: verdict, mean difference (or class-mean r), 95 % interval, Holm verdict."""
    for c in claims:
        if c.get("skipped"):
            print(f"claim: {c['claim']}: {c['verdict']}")
            continue
        d = c.get("difference") or c.get("class_mean_r")
        ci = f", 95 % CI [{d['low']:+.3f}, {d['high']:+.3f}]" if d["low"] is not None else ""
        holm_note = f"; Holm: {c['verdict_holm']}" if "verdict_holm" in c else ""
        print(f"claim: {c['claim']}: {c['verdict']} (mean {d['mean']:+.3f}{ci}{holm_note})")


if __name__ == "__main__":
    run_cli(main, "reproduce")
