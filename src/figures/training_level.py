"""Does training to the paper's level itself change how invariant a network is?

Within each selected run, the epoch-end maps at the first epoch whose running training accuracy reached a lower
criterion (99.5 %, the default protocol's) against those at the selected epoch (the paper's 99.9 %), paired within
the run. The training callback's maps are the only ones that exist per epoch: a fixed class-balanced validation
subset (callbacks.sensitivity.images_per_class per class, 30 MNIST images by default), not the test set the figure's
maps use. The number per point is the class-mean cosine averaged over radii 1..S (the claims' summary).
"""

from __future__ import annotations

from pathlib import Path

from src.records import epoch_profiles
from src.sensitivity.metrics import PAPER_METRIC
from src.sensitivity.stats import full_ring_mean, paired_difference

METRIC = PAPER_METRIC


def first_epoch_at(history: list[dict], criterion: float) -> int | None:
    """The first epoch whose running training accuracy reached `criterion`; None if none did."""
    return next((e["epoch"] for e in history if e.get("train/acc", 0.0) >= criterion), None)


def _mean_cosine(profiles: dict, epoch: int | None, max_shift: int) -> dict[str, float] | None:
    """Per measuring point, the radii 1..S mean cosine of the epoch-end maps of `epoch`; None without them."""
    if epoch is None or str(epoch) not in profiles:
        return None
    return {
        k.split("/")[0]: full_ring_mean(v, max_shift)
        for k, v in profiles[str(epoch)].items()
        if k.endswith(f"/{METRIC}")
    }


def run_levels(run: dict, criterion: float) -> dict | None:
    """One run's epochs (at `criterion`, selected) and, per measuring point, the radii 1..S mean cosine at each; None
    when the run has no epoch at the criterion or no maps of those epochs."""
    profiles, max_shift = epoch_profiles(Path(run["run_dir"])), int(run["config"]["max_shift"])
    low, selected = first_epoch_at(run.get("history") or [], criterion), run.get("selected_epoch")
    at_low, at_selected = _mean_cosine(profiles, low, max_shift), _mean_cosine(profiles, selected, max_shift)
    if at_low is None or at_selected is None:
        return None
    out = {"seed": run["config"]["seed"], "epoch_at_criterion": low, "selected_epoch": selected}
    mean_cosine = {p: {"at_criterion": at_low[p], "selected": at_selected[p]} for p in at_selected}
    return out | {"images": profiles[str(selected)].get("images"), "mean_cosine": mean_cosine}


def selected_epoch_cosine(run: dict) -> dict[str, float] | None:
    """Per measuring point, the radii 1..S mean cosine of the run's epoch-end maps at its selected epoch (the
    callback's validation subset); None without maps of that epoch. What every trained rate has, selected or not, so
    the learning rate's own effect on invariance is read from runs that already exist."""
    return _mean_cosine(
        epoch_profiles(Path(run["run_dir"])), run.get("selected_epoch"), int(run["config"]["max_shift"])
    )


def training_level(runs: dict, max_shift: int, criterion: float | None) -> dict:
    """{"criterion", "subset", "networks": {"k=K": {"runs": [run_levels...], "<point>": paired difference (selected -
    at criterion) over the runs}}}; {} without a criterion to compare with."""
    if criterion is None:
        return {}
    networks = {}
    for key, rs in runs.items():
        levels = [run_levels(r, criterion) for r in rs]
        rows = [row for row in levels if row is not None]
        entry: dict = {
            "runs": rows,
            "seeds_without_both_epochs": [
                r["config"]["seed"] for r, row in zip(rs, levels, strict=True) if row is None
            ],
        }
        for point in rows[0]["mean_cosine"] if rows else []:
            pairs = [(row["mean_cosine"][point]["selected"], row["mean_cosine"][point]["at_criterion"]) for row in rows]
            entry[point] = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
        networks[f"k={key}" if isinstance(key, int) else str(key)] = entry
    return {
        "criterion": criterion,
        "metric": METRIC,
        "summary": f"radii 1..{max_shift} mean {METRIC}",
        "subset": "the training callback's validation subset (the only maps measured per epoch), not the test set",
        "difference": "selected epoch minus the first epoch at the criterion, paired within each run (95 % t interval)",
        "networks": networks,
    }
