"""The metric table: every entry's facts hold for its own function, and everyone reads the table."""

import pytest
import torch

from src.sensitivity.metrics import METRICS, SHOWN_METRICS


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
    from src.plotting import METRIC_LABELS
    from src.wandb_log import LOGGED_METRICS

    assert all(METRIC_LABELS[n] == m.label for n, m in METRICS.items())
    bounded = tuple(n for n, m in METRICS.items() if m.larger_is_similar and m.value_range is not None)
    assert LOGGED_METRICS == SHOWN_METRICS == bounded and "distance" not in bounded  # not the raw distance


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

    with pytest.raises(
        ConfigError, match=r"metrics=\['pearsn'\] is not allowed: name one or more of \['cosine'"
    ):
        check_metrics(["pearsn"])
    assert check_metrics(None) == tuple(METRICS) and check_metrics(["distance", "cosine"]) == (
        "cosine",
        "distance",
    )
