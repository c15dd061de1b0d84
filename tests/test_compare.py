"""The comparison view on hand-made runs: grouping, refusal to average runs that differ, the table and figure."""

import json
import math

import pandas as pd
import pytest
import torch

from src.compare import comparison_figure, comparison_rows, group_runs, load_runs
from src.errors import ConfigError
from src.runs import RunRecord
from src.sensitivity import SensitivityResult


def _result(level: float, s: int = 3) -> SensitivityResult:
    r = torch.tensor([[math.hypot(x, y) for x in range(-s, s + 1)] for y in range(-s, s + 1)], dtype=torch.float64)
    maps = (1 - level * r).expand(2, -1, -1).clone()
    layers = {name: {"cosine": maps, "euclidean": maps} for name in ("conv", "softmax")}
    return SensitivityResult(layers, maps, maps, torch.full((2,), 4), s)


def _run(root, name, *, kernel=5, seed=0, dataset="mnist", lr=0.001, level=None, val=0.99):
    d = root / name
    config = {"kernel": kernel, "seed": seed, "lr": lr, "padding": "same", "dataset": {"name": dataset, "shuffle_seed": seed},
              "paths": {"output_dir": str(d)}, "run_name": name}  # fmt: skip
    RunRecord({"run_dir": str(d), "status": "completed", "config": config, "epochs": 2, "selected_epoch": 1, "val_acc": val,
                      "test_acc": val, "train_acc_full": 1.0, "checkpoint": "", "meets_criterion": True}).write()  # fmt: skip
    (d / "metrics.csv").write_text(f"epoch,val/acc,sens_mean/softmax/cosine\n0,0.9,0.5\n1,{val},0.6\n")
    if level is not None:
        _result(level).save(d / "sensitivity.pt")
    return d


def test_groups_average_over_seeds_only(tmp_path):
    for k, level in ((3, 0.1), (5, 0.05)):
        for seed in (0, 1, 2):
            _run(tmp_path, f"k{k}s{seed}", kernel=k, seed=seed, level=level + 0.01 * seed, val=0.98 + 0.001 * seed)
    (tmp_path / "unfinished").mkdir()
    RunRecord({"run_dir": str(tmp_path / "unfinished"), "status": "running", "config": {}}).write()
    runs, skipped = load_runs(tmp_path)
    assert [p.name for p in skipped] == ["unfinished"]
    groups = group_runs(runs, ["kernel"])
    assert list(groups) == [(3,), (5,)] and all(len(g) == 3 for g in groups.values())
    rows = comparison_rows(groups, ["kernel"])
    assert rows[0]["runs"] == "k3s0 k3s1 k3s2"  # every run a number comes from is named
    assert rows[0]["n"] == rows[0]["evaluated"] == 3 and rows[0]["val_acc_mean"] == pytest.approx(0.981)
    # r = 1..3 mean cosine of 1 - level * r over the 2-D rings, averaged over the seeds' levels 0.10, 0.11, 0.12
    expected = [float(_result(lv).radial_mean("conv", "cosine")[1:4].mean()) for lv in (0.10, 0.11, 0.12)]
    assert rows[0]["cosine_conv_mean"] == pytest.approx(sum(expected) / 3, abs=1e-4)
    assert rows[0]["cosine_conv_low"] < rows[0]["cosine_conv_mean"] < rows[0]["cosine_conv_high"]
    assert rows[1]["cosine_conv_mean"] > rows[0]["cosine_conv_mean"]  # the flatter maps are more invariant
    pd.DataFrame(rows)  # one table, as the CLI writes it
    fig = comparison_figure(groups, ["kernel"], "softmax")
    assert len(fig.axes) >= 5  # three panels and a map (with colour bar) per group
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["kernel=3 (n=3)", "kernel=5 (n=3)"]


def test_a_group_that_mixes_settings_is_refused_not_averaged(tmp_path):
    _run(tmp_path, "a", dataset="mnist", seed=0)
    _run(tmp_path, "b", dataset="fashion_mnist", seed=1)
    for run, loader in (("a", "src.data.sources.load_mnist"), ("b", "src.data.sources.load_fashion")):
        summary = json.loads((tmp_path / run / "summary.json").read_text())  # as train writes it: the loader too
        summary["config"]["dataset"]["loader"] = {"_target_": loader}
        (tmp_path / run / "summary.json").write_text(json.dumps(summary))
    runs, _ = load_runs(tmp_path)
    with pytest.raises(ConfigError, match=r"differ in dataset.name \('fashion_mnist', 'mnist'\)"):
        group_runs(runs, ["kernel"])
    assert len(group_runs(runs, ["dataset.name", "kernel"])) == 2  # grouped by it: two groups
    with pytest.raises(ConfigError, match=r"by=\['kernal'\] is not a config key"):
        group_runs(runs, ["kernal"])


def test_compare_cli_accepts_one_key_as_a_scalar(tmp_path):
    from omegaconf import OmegaConf

    from src.compare import check_compare_config

    cfg = OmegaConf.create({"runs": str(tmp_path), "by": "kernel", "layer": "softmax", "metric": "cosine"})
    assert check_compare_config(cfg) == ["kernel"]
    with pytest.raises(ConfigError, match="metric='pearson' is not allowed"):
        check_compare_config(OmegaConf.merge(cfg, {"metric": "pearson"}))


def _measured(run, *, max_shift=3, images_per_class=2, layers=("conv", "softmax")) -> None:
    """Give a hand-made run's result the measurement settings src.evaluate writes."""
    res = _result(0.1, max_shift)
    res.maps = {la: res.maps.get(la, res.maps["conv"]) for la in layers}
    res.meta["settings"] = {"layers": list(layers), "max_shift": max_shift, "images_per_class": images_per_class,
                            "autocast": None, "metrics": ["cosine", "euclidean"]}  # fmt: skip
    res.save(run / "sensitivity.pt")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_shift": 2}, "max_shift: 3 vs 2"),
        ({"images_per_class": 100}, "images_per_class: 2 vs 100"),
        ({"layers": ("conv",)}, "layers: \\['conv', 'softmax'\\] vs \\['conv'\\]"),
    ],
    ids=["shifts", "images", "points"],
)
def test_runs_measured_differently_are_refused_not_averaged(tmp_path, change, message):
    from src.compare import check_measured_alike

    _measured(_run(tmp_path, "a", seed=0))
    _measured(_run(tmp_path, "b", seed=1), **change)
    runs, _ = load_runs(tmp_path)
    with pytest.raises(ConfigError, match=f"measured differently \\({message}.*nothing averaged"):
        check_measured_alike(runs, "cosine")
    _measured(tmp_path / "b")  # measured alike again: accepted
    check_measured_alike(load_runs(tmp_path)[0], "cosine")
    with pytest.raises(ConfigError, match="metric=pearson is not measured"):
        check_measured_alike(load_runs(tmp_path)[0], "pearson")


def test_a_copied_run_is_not_a_second_seed(tmp_path):
    import shutil

    from src.compare import check_distinct

    _run(tmp_path, "k5s0", seed=0, level=0.1)
    shutil.copytree(tmp_path / "k5s0", tmp_path / "backup" / "k5s0")
    runs, _ = load_runs(tmp_path)
    with pytest.raises(ConfigError, match="group kernel=5 holds the same seed twice"):
        check_distinct(group_runs(runs, ["kernel"]), ["kernel"])


def test_a_damaged_metrics_file_leaves_out_its_curves_only(tmp_path, capsys):
    run = _run(tmp_path, "a", level=0.1)
    (run / "metrics.csv").write_bytes(b"epoch,val/acc\n0,0.9\n1,\xff\xfe broken\n")
    (only,) = load_runs(tmp_path)[0]
    assert only.epoch_metrics() == []
    assert "metrics.csv is damaged" in capsys.readouterr().err
    assert comparison_rows(group_runs([only], ["kernel"]), ["kernel"])[0]["evaluated"] == 1


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(tmp_path):
    from src.files import writable_folder

    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="out=.*file is a file: give a folder"):
        writable_folder("out", tmp_path / "file")
    with pytest.raises(ConfigError, match="out=.*file/sub cannot be created"):
        writable_folder("out", tmp_path / "file" / "sub")
    assert writable_folder("out", tmp_path / "new" / "deep").is_dir()


def test_the_comparison_figure_shows_one_epoch_runs_and_names_groups_not_evaluated(tmp_path):
    _run(tmp_path, "k3", kernel=3, level=0.1)
    _run(tmp_path, "k5", kernel=5, seed=1)  # trained, not evaluated
    runs, _ = load_runs(tmp_path)
    fig = comparison_figure(group_runs(runs, ["kernel"]), ["kernel"], "softmax")
    assert all(line.get_marker() == "o" for line in fig.axes[0].lines)  # a one-epoch run is a visible point
    assert fig.axes[0].get_ylabel() and fig.axes[2].get_xlabel() == "radius (px)"
    assert any("not evaluated yet: kernel=5" in text.get_text() for text in fig.axes[2].texts)


def test_a_run_from_before_a_setting_existed_is_read_with_the_value_it_used(tmp_path):
    """Runs written before the optimizer group have no `optimizer` key: they trained with Adam, so they group with
    today's Adam runs and are refused beside an SGD run (conf.ADDED_GROUPS, checked against the default config)."""
    from omegaconf import OmegaConf

    from src.conf import ADDED_GROUPS, completed_config
    from tests.conftest import compose_config

    defaults = OmegaConf.to_container(compose_config("train", [], tmp_path / "cfg"))
    assert all(defaults[key] == completed_config({})[key] for key in ADDED_GROUPS)
    old, new = _run(tmp_path, "old", seed=0), _run(tmp_path, "new", seed=1)
    for run, optimizer in ((new, defaults["optimizer"]), (_run(tmp_path, "sgd", seed=2), {"name": "sgd"})):
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(
            json.dumps(summary | {"config": summary["config"] | {"optimizer": optimizer}})
        )
    assert "optimizer" not in json.loads((old / "summary.json").read_text())["config"]
    runs, _ = load_runs(tmp_path)
    assert len(group_runs([r for r in runs if r.dir.name != "sgd"], ["kernel"])[(5,)]) == 2
    with pytest.raises(ConfigError, match=r"differ in optimizer.name \('adam', 'sgd'\)"):
        group_runs(runs, ["kernel"])
