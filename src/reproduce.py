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

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from src.cli import CONF_DIR, run_cli, user_errors_exit
from src.errors import ConfigError, DataError
from src.io import atomic_write, read_json, write_json

# figure -> (experiment, kernels it needs or None for the preset's, what to draw)
FIGURES = {
    "1": ("exp1_mnist", [5], "correlation"),
    "2": ("exp1_mnist", None, "radial_conv_fc"),
    "3": ("exp1_mnist", [5], "feature_maps"),
    "4": ("exp1_cifar10", None, "radial_conv_fc"),
    "5": ("exp2_mnist", None, "radial_fc"),
    "6": ("exp2_cifar10", None, "radial_fc"),
    "extras": ("exp1_mnist", [5], "extras"),
}
EXPERIMENT_TITLES = {
    "exp1_mnist": "MNIST, zero padding (Table 1)",
    "exp1_cifar10": "CIFAR-10, zero padding (Table 2)",
    "exp2_mnist": "MNIST, no padding (Table 3)",
    "exp2_cifar10": "CIFAR-10, no padding (Table 4)",
}
LR_STEP = 0.001  # the paper's step when a sweep is widened


def sweep_runs(sweep_dir: Path) -> tuple[list[dict], list[dict]]:
    """(eligible, excluded) runs below sweep_dir, each summary with its run_dir.

    Eligible: completed, and the selected checkpoint meets the training criterion. Excluded: everything else, each
    with a `reason` (failed, unfinished, or never reached the training accuracy before max_epochs).
    """
    eligible, excluded = [], []
    for path in sorted(sweep_dir.glob("*/summary.json")):
        s = read_json(path) | {"run_dir": str(path.parent)}
        if s.get("status") != "completed":
            excluded.append(s | {"reason": f"{s.get('status')}: {s.get('error', 'no error recorded')}"})
        elif not s.get("meets_criterion", False):
            t = s.get("criterion", {}).get("train_accuracy", s["config"].get("stop_train_accuracy"))
            excluded.append(s | {"reason": f"no epoch reached training accuracy {t} in {s['epochs']} epochs"})
        else:
            eligible.append(s)
    return eligible, excluded


def select_lr(runs: list[dict], kernel: int) -> tuple[float, list[float]]:
    """(best learning rate by mean validation accuracy over seeds, all rates tried) for one kernel."""
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


def train_sweep(
    cfg: DictConfig, experiment: str, kernels: list[int], lrs: list[float], sweep_dir: Path
) -> None:
    """One Hydra multirun over kernels x lrs x seeds; finished jobs are skipped by src.train."""
    cmd = [
        sys.executable, "-m", "src.train", "-m", f"experiment={experiment}",
        f"kernel={','.join(map(str, kernels))}", f"lr={','.join(map(str, lrs))}",
        f"seed={','.join(map(str, cfg.preset.seeds))}", f"hydra.sweep.dir={sweep_dir}",
        "trainer.enable_progress_bar=false", *cfg.preset.train_overrides, *cfg.extra_overrides,
    ]  # fmt: skip
    if cfg.launcher:
        cmd.append(f"hydra/launcher={cfg.launcher}")
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode:  # other jobs still ran; the failures are listed, selection uses what completed
        print(
            "warning: some jobs failed (listed above); selection uses the runs that completed",
            file=sys.stderr,
        )


def choose_lr(
    kernel: int,
    runs: Callable[[], list[dict]],
    train: Callable[[float], None],
    extend: bool,
    max_extensions: int,
) -> tuple[float, list[float]]:
    """(selected rate, rates tried) for one kernel; while the best rate lies at an edge, train one step past it.

    `runs()` gives the eligible runs so far and `train(lr)` trains every seed at `lr`. At most `max_extensions`
    rates are added, and the selection after the last one is final, so every rate trained is also considered.
    """
    best, tried = select_lr(runs(), kernel)
    for _ in range(max_extensions if extend else 0):
        step = next_lr(best, tried)
        if step is None or step in tried:
            break
        print(f"kernel {kernel}: best lr {best} is at the edge of {tried}: widening to {step}", flush=True)
        train(step)
        best, tried = select_lr(runs(), kernel)
    return best, tried


def selected_runs(
    cfg: DictConfig, experiment: str, kernels: list[int], sweep_dir: Path
) -> tuple[dict[int, list[dict]], list[dict]]:
    """Train what is missing, widen the lr sweep at edges; (kernel -> eligible runs of the best lr, excluded runs)."""
    train_sweep(cfg, experiment, kernels, list(cfg.preset.lrs), sweep_dir)
    chosen = {}
    for k in kernels:
        best, _ = choose_lr(
            k,
            runs=lambda: sweep_runs(sweep_dir)[0],
            train=lambda lr, k=k: train_sweep(cfg, experiment, [k], [lr], sweep_dir),
            extend=cfg.preset.extend_edges,
            max_extensions=cfg.max_extensions,
        )
        eligible = sweep_runs(sweep_dir)[0]
        chosen[k] = [r for r in eligible if r["config"]["kernel"] == k and r["config"]["lr"] == best]
    excluded = [r for r in sweep_runs(sweep_dir)[1] if r.get("config", {}).get("kernel") in kernels]
    for r in excluded:
        print(f"excluded {r['run_dir']}: {r['reason']}", file=sys.stderr)
    return chosen, excluded


def evaluate(cfg: DictConfig, runs: dict[int, list[dict]]):
    """kernel -> the SensitivityResults of its selected runs (computed where missing)."""
    from src.evaluate import evaluate_run
    from src.sensitivity import SensitivityResult

    base = OmegaConf.load(CONF_DIR / "evaluate.yaml")
    for key in ("defaults", "hydra"):
        base.pop(key)
    ecfg = OmegaConf.merge(base, {"images_per_class": cfg.preset.images_per_class, "run_dir": ""})
    ecfg = OmegaConf.merge(ecfg, OmegaConf.from_dotlist(list(cfg.evaluate_overrides)))
    results = {}
    for k, rs in runs.items():
        for r in rs:
            evaluate_run(Path(r["run_dir"]), ecfg)
        results[k] = [SensitivityResult.load(Path(r["run_dir"]) / ecfg.output) for r in rs]
    return results


def save_figure(fig, path: Path) -> list[Path]:
    """PNG and PDF, each written atomically."""
    import matplotlib.pyplot as plt

    out = []
    for ext in ("png", "pdf"):
        out.append(atomic_write(path.with_suffix(f".{ext}"), lambda p, ext=ext: fig.savefig(p, format=ext)))
    plt.close(fig)
    return out


def accuracy_table(runs: dict[int, list[dict]]) -> dict:
    """kernel -> lr, seeds, and mean/std of train/val/test accuracy of the selected runs."""
    table = {}
    for k, rs in runs.items():
        row = {"lr": rs[0]["config"]["lr"], "seeds": [r["config"]["seed"] for r in rs],
               "epochs": [r["epochs"] for r in rs], "run_dirs": [r["run_dir"] for r in rs]}  # fmt: skip
        for key in ("train_acc", "val_acc", "test_acc"):
            vals = [r[key] for r in rs]
            row[key] = {"mean": statistics.mean(vals), "std": statistics.pstdev(vals), "values": vals}
        table[k] = row
    return table


def draw(
    cfg: DictConfig, figure: str, runs: dict[int, list[dict]], results: dict, excluded: list[dict]
) -> list[Path]:
    """Draw the figure(s) and write their numbers. Returns the files written."""
    from src import plotting

    fig_dir = Path(cfg.figures_dir)
    note = f"preset={cfg.preset.name} | {time.strftime('%Y-%m-%d')} | src.reproduce figure={figure}"
    kind = FIGURES[figure][2]
    labelled = {f"k={k}": res for k, res in results.items()}
    written: list[Path] = []
    numbers = {
        "figure": figure,
        "preset": OmegaConf.to_container(cfg.preset),
        "accuracy": accuracy_table(runs),
        "excluded_runs": [{"run_dir": r["run_dir"], "reason": r["reason"]} for r in excluded],
    }
    if kind.startswith("radial"):
        layers = ["conv", "fc"] if kind == "radial_conv_fc" else ["fc"]
        for layer in layers:
            suffix = ("a" if layer == "conv" else "b") if len(layers) == 2 else ""
            title = (
                f"Fig. {figure}{f'({suffix})' if suffix else ''}: {EXPERIMENT_TITLES[FIGURES[figure][0]]}, "
                + (plotting.LAYER_TITLES[layer])
            )
            fig = plotting.radial_figure(labelled, layer, "cosine", title=title, note=note)
            written += save_figure(fig, fig_dir / f"fig{figure}{suffix}")
        numbers["radial_cosine"] = {
            layer: {
                label: [r.radial_mean(layer, "cosine").tolist() for r in res]
                for label, res in labelled.items()
            }
            for layer in layers
        }
    elif kind == "correlation":
        from src.sensitivity import pearson

        res = results[5]
        written += save_figure(plotting.correlation_figure(res, "fc", note=note), fig_dir / f"fig{figure}")
        numbers["pearson_fc"] = {
            m: [pearson(r.get("fc", m), r.accuracy).tolist() for r in res] for m in ("cosine", "euclidean")
        }
    elif kind == "feature_maps":
        written += save_figure(feature_maps(runs[5][0], note), fig_dir / f"fig{figure}")
    else:  # extras
        from src.sensitivity import SensitivityResult

        res = results[5][0]
        for layer in ("conv", "fc"):
            fig = plotting.class_maps_figure(res, layer, "cosine", note=note)
            written += save_figure(fig, fig_dir / f"class_maps_{layer}")
        epoch_files = sorted((Path(runs[5][0]["run_dir"]) / "sensitivity_epochs").glob("epoch=*.pt"))
        if epoch_files:
            per_epoch = [SensitivityResult.load(f) for f in epoch_files]
            for layer in ("conv", "fc"):
                written += save_figure(
                    plotting.epochs_figure(per_epoch, layer, note=note), fig_dir / f"epochs_{layer}"
                )
    name = f"fig{figure}" if figure != "extras" else "extras"
    written.append(write_json(fig_dir / f"{name}.json", numbers))
    return written


FIG3_SHIFT = (4, 4)  # (dx, dy), pixels: large enough to see, small enough to keep the digit inside the image


def feature_maps(run: dict, note: str):
    """Fig. 3 from one run: the first test image, its shifted copy, and 3 channels of the last conv block."""
    import torch

    from src.evaluate import load_network
    from src.plotting import feature_map_figure
    from src.sensitivity import shift_images

    net, dm = load_network(Path(run["run_dir"]), run)
    dm.setup("test")
    x = dm.test_set.images[:1]
    xs = shift_images(x, *FIG3_SHIFT, fill=dm.fill_value)
    out = {}
    handle = net.conv.register_forward_hook(lambda m, i, o: out.__setitem__("conv", o))
    net.eval()
    with torch.inference_mode():
        net(x)
        base = out["conv"][0]
        net(xs)
        shifted = out["conv"][0]
    handle.remove()
    return feature_map_figure(x[0], xs[0], base, shifted, FIG3_SHIFT, note=note)


@hydra.main(version_base="1.3", config_path="../conf", config_name="reproduce")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    figure = str(cfg.figure)
    if figure not in FIGURES:
        raise ConfigError(f"figure={figure} is not allowed: use one of {list(FIGURES)}")
    experiment, kernels, _ = FIGURES[figure]
    kernels = kernels or list(cfg.preset.kernels)
    sweep_dir = Path(cfg.outputs) / experiment / cfg.preset.name
    runs, excluded = selected_runs(cfg, experiment, kernels, sweep_dir)
    results = evaluate(cfg, runs) if FIGURES[figure][2] != "feature_maps" else {}
    for path in draw(cfg, figure, runs, results, excluded):
        print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
