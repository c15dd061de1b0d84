"""The metric table: every entry's facts hold for its own function, and everyone reads the table."""

import pytest
import torch

from src.sensitivity.metrics import METRICS, shown_metrics


@pytest.mark.parametrize("name", list(METRICS))
def test_each_metric_has_its_direction_and_range(name):
    metric = METRICS[name]
    g = torch.Generator().manual_seed(0)
    a = torch.rand(64, 20, generator=g)
    near, far = a + 0.01 * torch.rand(64, 20, generator=g), torch.rand(64, 20, generator=g)
    closer = metric.function(a, near).mean() > metric.function(a, far).mean()
    assert closer == metric.larger_is_similar  # the direction claims and figures rely on
    values = torch.cat([metric.function(a, near), metric.function(a, far), metric.function(a, -a)])
    if metric.value_range is not None:
        lo, hi = metric.value_range
        assert values.min() >= lo - 1e-6 and values.max() <= hi + 1e-6
    assert metric.label


def test_figures_and_wandb_read_the_table():
    from src.plotting import metric_label

    assert all(metric_label(n) == m.label for n, m in METRICS.items())
    bounded = tuple(n for n, m in METRICS.items() if m.larger_is_similar and m.value_range is not None)
    assert shown_metrics() == bounded and "distance" not in bounded  # W&B logs bounded similarities, not the distance


@pytest.mark.parametrize("name", list(METRICS))
def test_the_engine_computes_only_the_metrics_asked_for_and_agrees_with_the_reference(name):
    from src.models.cnn import build_network
    from src.sensitivity import translation_sensitivity
    from src.sensitivity.reference import naive_translation_sensitivity

    torch.manual_seed(0)
    net = build_network("mnist", 1, 12, 3, "same", channels=[2, 3, 4], hidden=8, num_classes=3)
    x, y = torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 0])
    fast = translation_sensitivity(net, x, y, ("conv", "softmax"), 3, max_shift=2, metrics=[name])
    slow = naive_translation_sensitivity(net, x, y, ("conv", "softmax"), 3, max_shift=2, metrics=[name])
    assert all(list(maps) == [name] for maps in fast.maps.values())
    for layer in ("conv", "softmax"):
        assert torch.allclose(fast.get(layer, name), slow[f"{layer}/{name}"], atol=1e-5)


def test_an_unknown_metric_is_refused_in_one_line():
    from src.errors import ConfigError
    from src.sensitivity.metrics import check_metrics

    with pytest.raises(ConfigError, match=r"metrics=\['pearsn'\] is not allowed: name one or more of \['cosine'"):
        check_metrics(["pearsn"])
    assert check_metrics(None) == tuple(METRICS) and check_metrics(["distance", "cosine"]) == ("cosine", "distance")


def test_a_metric_added_to_the_table_alone_reaches_engine_compare_figure_report_and_wandb(tmp_path, monkeypatch):
    """Adding a metric is its function, its METRICS entry and its test: nothing else in src/ changes. A Pearson
    correlation of the two responses (a centred cosine) is registered here and runs through every consumer."""
    from src.compare import comparison_figure, comparison_rows, group_runs, load_runs
    from src.figures import FIGURES
    from src.figures.claims import Claim, claims_for
    from src.figures.radial import draw, radial_numbers
    from src.models.cnn import build_network
    from src.report import claims_table, radial_table
    from src.runs import RunRecord
    from src.sensitivity import translation_sensitivity
    from src.sensitivity.metrics import Metric, cosine
    from src.sensitivity.reference import naive_translation_sensitivity
    from src.wandb_log import profiles

    def pearson(a, b):
        return cosine(a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True))

    monkeypatch.setitem(METRICS, "pearson", Metric(pearson, "Pearson correlation", True, (-1.0, 1.0), True, 0.02))
    x, y = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2] * 2)
    results = {}
    for kernel in (3, 5):
        for seed in (0, 1):
            torch.manual_seed(seed)
            net = build_network("mnist", 1, 12, kernel, "same", channels=[2, 3, 4], hidden=8, num_classes=3)
            res = translation_sensitivity(net, x, y, ("conv", "softmax"), 3, max_shift=2)  # default: every metric
            results.setdefault(f"k={kernel}", []).append(res)
            run = tmp_path / "runs" / f"k{kernel}s{seed}"
            RunRecord({"run_dir": str(run), "status": "completed", "epochs": 1, "selected_epoch": 0, "val_acc": 0.5, "test_acc": 0.5,
                                "config": {"kernel": kernel, "seed": seed}, "checkpoint": "", "meets_criterion": True}).write()  # fmt: skip
            res.save(run / "sensitivity.pt")
    slow = naive_translation_sensitivity(net, x, y, ("conv",), 3, max_shift=2, metrics=["pearson"])
    assert torch.allclose(res.get("conv", "pearson"), slow["conv/pearson"], atol=1e-5)  # the engine = reference
    assert "conv/pearson" in profiles(res)  # logged to W&B: bounded, larger = more similar

    runs, _ = load_runs(tmp_path / "runs")
    groups = group_runs(runs, ["kernel"])
    rows = comparison_rows(groups, ["kernel"], metric="pearson")
    assert -1 <= rows[0]["pearson_conv_mean"] <= 1 and rows[0]["n"] == 2
    comparison_figure(groups, ["kernel"], "conv", metric="pearson")

    radial = radial_numbers(results, ("conv", "softmax"))
    claim = Claim("conv: k=5 more invariant than k=3", ("conv", "k=5"), ("conv", "k=3"), 1)
    numbers = {"radial": radial, "metric": "pearson", "max_shift": 2, "output_layer": "softmax"}
    numbers |= claims_for([claim], radial, "softmax", 2, "pearson")
    assert numbers["claims"][0]["metric"] == "pearson" and "p" in numbers["claims"][0]
    table = radial_table(numbers, ["conv"]).splitlines()
    # two networks, and only the radii up to the measured S = 2
    assert len(table) == 4 and table[0].split("|")[4:7] == [" r=1 ", " r=2 ", ""]
    assert claims_table(numbers).count("conv: k=5 more invariant") == 1
    written = draw(numbers | {"name": "fig2_pearson"}, FIGURES["2"], tmp_path, note="test")
    assert (tmp_path / "fig2_pearson.png").is_file() and written
