"""Compare runs grouped by any config keys: `python -m src.compare runs=<folder> by=[kernel]`.

Every completed run below `runs` is loaded (summary.json, metrics.csv, and sensitivity.pt once `src.evaluate` ran)
and grouped by the values of the `by` keys (dotted config keys: dataset.name, padding, kernel, lr, model.pool,
augment.name, ...). The runs of one group must agree on every other setting that changes what is computed (all
keys but the seed and the bookkeeping ones of `src.runs.VOLATILE`): a group that would average two datasets or two
learning rates is refused in one line naming the key and its values, never averaged.

Writes `<out>/compare.csv` (one row per group: n, the run folders, accuracies as mean and std, and at each measuring
point the test-set mean `metric` over radii 1..S as mean and 95 % t interval over the group's runs) and
`<out>/compare.png` (validation accuracy per epoch, the per-epoch sensitivity on the validation subset, the test-set
radial profiles with 95 % intervals, and one class-mean map per group).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.cli import run_cli, user_errors_exit
from src.errors import ConfigError
from src.files import writable_folder
from src.runs import VOLATILE, RunRecord, find_runs
from src.sensitivity.metrics import METRICS, PAPER_METRIC

# Keys that never split or mix a group: the seeds are what a group averages over (shuffle_seed is ${seed}); where
# a run lives and how it logs are src.runs.VOLATILE.
NOT_COMPARED = ("seed", "dataset.shuffle_seed")


# What must agree before test-set numbers are averaged or set side by side: the measurement's settings (src.evaluate
# writes them into each result) and the number of test images measured.
MEASURED_ALIKE = ("layers", "max_shift", "images_per_class", "autocast")


def check_measured_alike(runs: Sequence[RunRecord], metric: str) -> None:
    """ConfigError (one line, nothing averaged) unless every evaluated run was measured alike: the same points,
    shifts, test images and arithmetic, and holding `metric`."""
    measured = [(r, res) for r in runs if (res := r.test_maps()) is not None]
    if not measured:
        return

    def described(res) -> dict:
        settings = res.meta.get("settings") or {}
        return {k: settings.get(k) for k in MEASURED_ALIKE} | {"images": int(res.counts.sum())}

    first, reference = measured[0][0], described(measured[0][1])
    for run, res in measured[1:]:
        mine = described(res)
        differ = [f"{k}: {reference[k]!r} vs {mine[k]!r}" for k in reference if mine[k] != reference[k]]
        if differ:
            raise ConfigError(
                f"{first.dir} and {run.dir} were measured differently ({'; '.join(differ)}): evaluate them alike "
                "(src.evaluate force=true with the same settings) or compare them separately; nothing averaged"
            )
    lacking = [str(r.dir) for r, res in measured if any(metric not in res.maps[la] for la in res.layers)]
    if lacking:
        more = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
        raise ConfigError(
            f"metric={metric} is not measured in {lacking[0]}{more}: src.evaluate extends it with that metric"
        )


def check_distinct(groups: Mapping[tuple, list[RunRecord]], by: Sequence[str]) -> None:
    """ConfigError unless every run of a group is its own network: a seed twice (a copied or backed-up run folder)
    or one checkpoint twice would count one network as two and shrink the interval."""
    for key, members in groups.items():
        for field, what in (("seed", "seed"), ("checkpoint_sha256", "selected checkpoint")):
            seen: dict = {}
            for m in members:
                value = m.settings.get(field) if field == "seed" else m.get(field)
                if value is None:
                    continue
                if value in seen:
                    raise ConfigError(
                        f"group {group_label(by, key)} holds the same {what} twice ({seen[value].dir} and {m.dir}): "
                        "a copy of a run is not another seed; compare a folder that holds each run once"
                    )
                seen[value] = m


def _compared(key: str) -> bool:
    return not any(key == v or key.startswith(f"{v}.") for v in (*VOLATILE, *NOT_COMPARED))


def load_runs(root: str | Path) -> tuple[list[RunRecord], list[Path]]:
    """(completed runs, skipped run folders: not completed or damaged) at or below `root`."""
    runs, skipped = [], []
    for d in find_runs(root):
        run = RunRecord.read(d)
        if run.completed:
            runs.append(run)
        else:
            skipped.append(d)
    return runs, skipped


def group_runs(runs: Sequence[RunRecord], by: Sequence[str]) -> dict[tuple, list[RunRecord]]:
    """{values of the `by` keys: runs}, in sorted order. Raises ConfigError for an unknown key, or for a group whose
    runs differ in a setting outside `by` (naming the key and its values)."""
    if not runs:
        raise ConfigError("no completed runs to compare")
    known = set().union(*(r.settings for r in runs))
    unknown = [k for k in by if k not in known]
    if unknown:
        candidates = sorted(k for k in known if _compared(k))
        raise ConfigError(f"by={unknown} is not a config key of these runs: use dotted keys such as {candidates[:12]}")
    groups: dict[tuple, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(tuple(r.settings.get(k) for k in by), []).append(r)
    # a choice's name first: a dataset mix is said as dataset.name, not as the loader it implies
    order = sorted(known, key=lambda k: (not k.endswith(".name"), k))
    for key, members in groups.items():
        for setting in order:
            if setting in by or not _compared(setting):
                continue
            values = {repr(m.settings.get(setting)) for m in members}
            if len(values) > 1:
                label = ", ".join(f"{k}={v}" for k, v in zip(by, key, strict=True))
                raise ConfigError(
                    f"the runs of group {label} differ in {setting} ({', '.join(sorted(values))}): add it to by= "
                    f"or compare a folder that holds one {setting}; nothing averaged"
                )
    return dict(sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])))


def group_label(by: Sequence[str], key: tuple) -> str:
    """ "dataset=mnist, kernel=5" for by=[dataset.name, kernel]: the last part of each key (the group for .name)."""

    def short(k: str) -> str:
        return k.removesuffix(".name").rsplit(".", 1)[-1]

    return ", ".join(f"{short(k)}={v}" for k, v in zip(by, key, strict=True))


def comparison_rows(
    groups: Mapping[tuple, list[RunRecord]], by: Sequence[str], metric: str = PAPER_METRIC
) -> list[dict]:
    """One row per group: the `by` values, n, run folders, accuracies (mean, std), and per measuring point the test
    set's mean `metric` over radii 1..S (mean, 95 % interval; empty before `src.evaluate`)."""
    from src.sensitivity.stats import full_ring_mean, mean_ci

    rows = []
    for key, members in groups.items():
        row: dict = dict(zip(by, key, strict=True)) | {"n": len(members)}
        row["meet_criterion"] = sum(bool(m.get("meets_criterion")) for m in members)
        for acc in ("train_acc_full", "val_acc", "test_acc"):
            values = [m[acc] for m in members if m.get(acc) is not None]
            if values:
                ci = mean_ci(values)
                row |= {f"{acc}_mean": round(ci["mean"], 4), f"{acc}_std": _round(ci["std"])}
        results = [res for m in members if (res := m.test_maps()) is not None]
        row["evaluated"] = len(results)
        for layer in results[0].layers if results else []:
            ci = mean_ci([full_ring_mean(r.radial_mean(layer, metric), r.max_shift) for r in results])
            row |= {f"{metric}_{layer}_{key}": _round(ci[key]) for key in ("mean", "low", "high")}
        row["runs"] = " ".join(m.name for m in members)
        rows.append(row)
    return rows


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def comparison_figure(
    groups: Mapping[tuple, list[RunRecord]], by: Sequence[str], layer: str, metric: str = PAPER_METRIC
):
    """Top row: validation accuracy per epoch (one line per run), the per-epoch sensitivity at `layer` (validation
    subset, mean `metric` over radii 1..S), the test-set radial profile at `layer` (group mean, 95 % band). Bottom row:
    each group's class-mean `metric` map at `layer` on the test set (mean over its runs), on one colour scale."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    n = len(groups)
    # places the maps' shared colour bar
    fig = plt.figure(figsize=(max(11, 2.4 * n), 7), layout="constrained")
    grid = fig.add_gridspec(2, max(3, n))
    top = [fig.add_subplot(grid[0, i * max(3, n) // 3 : (i + 1) * max(3, n) // 3]) for i in range(3)]
    colours = plt.get_cmap("tab10")
    maps, max_shift, unevaluated = {}, 0, []
    for i, (key, members) in enumerate(groups.items()):
        label, colour = f"{group_label(by, key)} (n={len(members)})", colours(i % 10)
        _plot_epoch_curves(top[:2], members, f"sens_mean/{layer}/{metric}", label, colour)
        results = [res for m in members if (res := m.test_maps()) is not None]
        if results and layer in results[0].maps:
            _plot_radial_band(top[2], results, layer, metric, f"{label}, {len(results)} evaluated", colour)
            maps[f"{group_label(by, key)}\n({len(results)} evaluated)"] = np.mean(
                [r.class_mean(layer, metric).numpy() for r in results], axis=0
            )
            max_shift = results[0].max_shift
        else:
            unevaluated.append(group_label(by, key))
    titles = (
        "validation accuracy per epoch",
        f"{layer} {metric} per epoch (val subset, r = 1-S mean)",
        f"{layer} {metric}, test set (mean, 95 % interval)",
    )
    ylabels = ("validation accuracy", f"mean {metric}, r = 1-S", f"class-mean {metric}")
    for ax, title, xlabel, ylabel in zip(top, titles, ("epoch", "epoch", "radius (px)"), ylabels, strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and radii are whole numbers
        if ax.lines and ax is not top[1]:  # the groups' colours: said once for both epoch panels
            ax.legend(fontsize=7, loc="best", framealpha=0.8)
    if unevaluated:  # never vanish silently; wrapped inside the panel, groups apart by ";"
        note = textwrap.fill(f"not evaluated yet: {'; '.join(unevaluated)}", 60)
        top[2].text(0.02, 0.02, note, transform=top[2].transAxes, fontsize=7, color="0.3", va="bottom")
    fig.suptitle(f"runs grouped by {', '.join(by)}: {layer}, {metric}", fontsize=11)
    _draw_group_maps(fig, grid, maps, max_shift, layer, metric)
    return fig


def _plot_epoch_curves(axes, members: list[RunRecord], sens_key: str, label: str, colour) -> None:
    """Each run's validation accuracy (axes[0]) and its logged `sens_key` (axes[1]) per epoch; one legend entry."""
    for j, m in enumerate(members):
        rows = m.epoch_metrics()
        val = [(r["epoch"], r["val/acc"]) for r in rows if "val/acc" in r]
        sens = [(r["epoch"], r[sens_key]) for r in rows if sens_key in r]
        for ax, points in zip(axes, (val, sens), strict=True):
            if points:
                # markers: a one-epoch run is a point, not nothing
                ax.plot(
                    *zip(*points, strict=True),
                    color=colour,
                    alpha=0.7,
                    lw=1,
                    marker="o",
                    ms=3,
                    label=label if j == 0 else None,
                )


def _plot_radial_band(ax, results: list, layer: str, metric: str, label: str, colour) -> None:
    """The group's mean radial profile at `layer` over its evaluated runs, with a 95 % band when n > 1."""
    import numpy as np

    from src.sensitivity.stats import mean_ci

    profiles = np.array([r.radial_mean(layer, metric).numpy() for r in results])
    radii = np.arange(profiles.shape[1])
    cis = [mean_ci(profiles[:, k]) for k in radii]
    ax.plot(radii, [c["mean"] for c in cis], color=colour, label=label)
    if len(results) > 1:
        ax.fill_between(radii, [c["low"] for c in cis], [c["high"] for c in cis], color=colour, alpha=0.2)


def _draw_group_maps(fig, grid, maps: dict, max_shift: int, layer: str, metric: str) -> None:
    """The bottom row: one class-mean map per evaluated group, on one colour scale with one colour bar; a hint when
    no run is evaluated yet. At least four columns, so a few maps stay large enough to read and their titles apart."""
    from matplotlib.ticker import MaxNLocator

    from src.wandb_log import cosine_range

    # cosine: its range at this point (non-negative after a ReLU or softmax); another metric: its table range, or
    # the data's for an unbounded one
    lo, hi = cosine_range(layer) if metric == "cosine" else (METRICS[metric].value_range or (None, None))
    s = max_shift
    row = grid[1, :].subgridspec(1, max(4, len(maps)), wspace=0.35)
    axes = []
    for i, (label, m) in enumerate(maps.items()):
        ax = fig.add_subplot(row[0, i])
        im = ax.imshow(m, extent=(-s - 0.5, s + 0.5, s + 0.5, -s - 0.5), vmin=lo, vmax=hi, cmap="magma")
        ax.set_title(label, fontsize=8, pad=4)
        ax.set_xlabel("dx (px)", fontsize=7)
        ax.set_ylabel("dy (px)", fontsize=7, labelpad=0)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
        axes.append(ax)
    if axes:
        fig.colorbar(im, ax=axes, shrink=0.8, pad=0.02, label=f"{layer} {metric}")
    else:
        fig.text(0.5, 0.25, "no test-set maps yet: run `python -m src.evaluate run_dir=...`", ha="center")


def check_compare_config(cfg: DictConfig) -> list[str]:
    """`by` as a list (one key given as a scalar is one item); one-line errors for a missing folder or metric."""
    if not cfg.runs:
        raise ConfigError("runs is required: python -m src.compare runs=<a folder of runs> by=[kernel]")
    by = [cfg.by] if isinstance(cfg.by, str) else list(cfg.by or [])
    if not by or not all(isinstance(k, str) and k for k in by):
        raise ConfigError(
            f"by={cfg.by!r} is not allowed: give config keys, e.g. by=[kernel] or by=[dataset.name,kernel]"
        )

    if cfg.metric not in METRICS:
        raise ConfigError(f"metric={cfg.metric!r} is not allowed: use one of {list(METRICS)}")
    return by


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    by = check_compare_config(cfg)
    runs, skipped = load_runs(cfg.runs)
    groups = group_runs(runs, by)
    check_distinct(groups, by)
    check_measured_alike(runs, cfg.metric)
    out = writable_folder("out", cfg.out or Path(cfg.runs) / "compare")
    rows = comparison_rows(groups, by, cfg.metric)
    import pandas as pd

    table = pd.DataFrame(rows)
    table.to_csv(out / "compare.csv", index=False)
    fig = comparison_figure(groups, by, cfg.layer, cfg.metric)
    fig.savefig(out / "compare.png", dpi=120)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.drop(columns="runs").to_string(index=False))
    for row in rows:
        print(f"{group_label(by, tuple(row[k] for k in by))}: {row['runs']}")
    if skipped:
        print(f"skipped {len(skipped)} runs not completed: {' '.join(p.name for p in skipped)}", file=sys.stderr)
    print(f"wrote {out / 'compare.csv'} and {out / 'compare.png'}")


if __name__ == "__main__":
    run_cli(main, "compare")
