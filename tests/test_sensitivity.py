import math

import pytest
import torch
from torch import nn

from src.errors import ConfigError, DataError
from src.models import build_network
from src.sensitivity import (
    SensitivityResult,
    accumulate_sensitivity,
    cosine,
    distance,
    euclidean,
    measuring_points,
    naive_translation_sensitivity,
    new_sums,
    pearson,
    radial_profile,
    radius_grid,
    sensitivity_result,
    shift_images,
    shifted_windows,
    translation_sensitivity,
)


def test_shift_direction_on_a_one_pixel_image():
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    moved = shift_images(x, dx=2, dy=-1)
    assert moved[0, 0, 2, 5] == 1.0 and moved.sum() == 1.0  # right by 2, up by 1
    assert shift_images(x, dx=4, dy=0).sum() == 0.0  # shifted out: nothing wraps
    filled = shift_images(x, dx=1, dy=1, fill=0.5)
    assert filled[0, 0, 0, 0] == 0.5 and filled[0, 0, 4, 4] == 1.0


def test_windows_equal_explicit_shifts_with_per_channel_fill():
    torch.manual_seed(0)
    x, s, fill = torch.rand(2, 2, 9, 8), 3, [0.25, -1.0]
    win = shifted_windows(x, s, fill)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            assert torch.equal(win[:, :, s - dy, s - dx], shift_images(x, dx, dy, fill))


def test_metrics_on_hand_made_vectors():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0], [1.0, 0.0]])
    assert cosine(a, b).tolist() == [pytest.approx(1.0), 0.0, 1.0, 0.0]
    assert distance(a, b).tolist() == [0.0, pytest.approx(math.sqrt(5)), 0.0, 1.0]
    assert euclidean(a, b).tolist() == [1.0, pytest.approx(1 - math.sqrt(5) / 3), 1.0, 0.0]


def test_radius_grid_and_radial_profile_on_hand_made_maps():
    r = radius_grid(10)
    assert r[10, 10] == 0 and r[10, 11] == 1 and r[11, 11] == 1 and r[0, 0] == 14 and r[10, 0] == 10
    assert r.max() == 14  # floor(10 * sqrt(2) + 0.5)
    maps = r.double()[None].repeat(2, 1, 1)  # each shift's value is its radius
    maps[1] = 3.0
    prof = radial_profile(maps)
    assert prof.shape == (2, 15)
    assert torch.allclose(prof[0], torch.arange(15, dtype=torch.float64))
    assert torch.allclose(prof[1], torch.full((15,), 3.0, dtype=torch.float64))
    small = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    # S = 1: radius 0 is the centre; radius 1 covers the 4 axis shifts and the 4 diagonals (sqrt 2 + 0.5 -> 1)
    assert radial_profile(small).tolist() == [5.0, 5.0]


def test_pearson():
    a = torch.arange(9.0).view(1, 3, 3)
    assert pearson(a, 2 * a + 1).item() == pytest.approx(1.0)
    assert pearson(a, -a).item() == pytest.approx(-1.0)
    assert math.isnan(pearson(a, torch.ones(1, 3, 3)).item())


class OddNames(nn.Module):
    """A model whose layers are not called conv/fc, with an even kernel and a 3-channel input."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 2, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(5))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.mark.parametrize("case", ["table1_even_kernel", "odd_names", "all_stages"])
def test_engine_matches_the_per_image_per_shift_loop(case):
    torch.manual_seed(0)
    if case == "table1_even_kernel":
        model = build_network("mnist", 1, 16, 4, "same", channels=[3, 4, 5], hidden=12, num_classes=3)
        x, layers, fill, classes = torch.rand(5, 1, 16, 16), ("conv", "softmax", "fc"), 0.0, 3
    elif case == "all_stages":  # input, every block, softmax; GAP head and anti-aliased pooling
        model = build_network("mnist", 1, 16, 3, "same", [3, 4, 5], 12, 3, pool="blur", head="gap")
        x, layers, fill, classes = torch.rand(5, 1, 16, 16), "all", 0.0, 3
    else:
        model = OddNames()
        x, layers, fill, classes = torch.rand(5, 3, 11, 11), ("features.0", "softmax"), [0.1, 0.2, 0.3], 5
        model(x)  # materialise the lazy layer
    y = torch.tensor([0, 1, 2, 0, 2])
    fast = translation_sensitivity(model, x, y, layers, classes, max_shift=3, fill_value=fill, batch_size=13)
    slow = naive_translation_sensitivity(model, x, y, layers, classes, max_shift=3, fill_value=fill)
    for key, ref in slow.items():
        got = fast.get(*key.split("/")) if "/" in key else fast.get(None, key)
        assert got.shape == ref.shape
        present = fast.counts > 0
        assert (got[present] - ref[present]).abs().max() <= 1e-5, key
    assert fast.layers == measuring_points(model, layers) and set(slow) >= {f"{fast.layers[-1]}/cosine"}
    centre = fast.get(fast.layers[0], "cosine")[fast.counts > 0, 3, 3]
    assert torch.allclose(centre, torch.ones_like(centre), atol=1e-6)
    assert fast.counts.tolist()[:3] == [2, 1, 2]


def test_softmax_point_is_the_output_probabilities():
    """`softmax` compares softmax(logits): non-negative vectors, so its cosine lies in [0, 1] (logits' does not)."""
    torch.manual_seed(0)
    model = build_network("mnist", 1, 12, 3, "same", channels=[2, 2, 2], hidden=8)
    x, y = torch.rand(6, 1, 12, 12), torch.arange(6) % 10
    res = translation_sensitivity(model, x, y, layers=("softmax", "fc"), max_shift=2)
    probs = model.eval()(x).softmax(1)
    shifted = model(shift_images(x, 1, -2)).softmax(1)
    expected = cosine(probs, shifted)
    for i, c in enumerate(y.tolist()):  # one image per class: the map cell is that image's value
        assert res.maps["softmax"]["cosine"][c, -2 + 2, 1 + 2] == pytest.approx(float(expected[i]), abs=1e-6)
    present = res.counts > 0
    assert res.maps["softmax"]["cosine"][present].min() >= 0.0


def test_engine_accepts_a_dataloader_and_leaves_the_model_as_found():
    torch.manual_seed(0)
    model = build_network("mnist", 1, 12, 3, "same", channels=[2, 2, 2], hidden=8)
    model.train()
    strides = [p.stride() for p in model.parameters()]
    x, y = torch.rand(8, 1, 12, 12), torch.arange(8) % 10
    whole = translation_sensitivity(model, x, y, max_shift=2)  # runs with NHWC weights, then restores them
    assert [p.stride() for p in model.parameters()] == strides
    batches = [(x[:3], y[:3]), (x[3:], y[3:])]
    split = translation_sensitivity(model, batches, max_shift=2, channels_last=False)
    assert torch.allclose(whole.maps["conv"]["cosine"], split.maps["conv"]["cosine"], equal_nan=True, atol=1e-6)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_sums_reduce_by_addition_as_shards_would():
    torch.manual_seed(0)
    model = build_network("mnist", 1, 12, 3, "same", channels=[2, 2, 2], hidden=8)
    x, y = torch.rand(6, 1, 12, 12), torch.tensor([0, 1, 0, 1, 2, 2])
    whole = translation_sensitivity(model, x, y, num_classes=3, max_shift=2)
    total = new_sums(("conv", "fc"), 3, 2)
    for part in (slice(0, 4), slice(4, 6)):
        shard = new_sums(("conv", "fc"), 3, 2)
        accumulate_sensitivity(model, [(x[part], y[part])], shard, max_shift=2)
        total.merge_state(shard)  # what a distributed sync does: sum the states
    merged = sensitivity_result(total, ("conv", "fc"), 2)
    assert torch.allclose(merged.maps["conv"]["cosine"], whole.maps["conv"]["cosine"])
    assert merged.counts.tolist() == [2, 2, 2]


def test_save_load_and_corrupt_file(tmp_path):
    model = build_network("mnist", 1, 12, 3, "same", channels=[2, 2, 2], hidden=8)
    res = translation_sensitivity(model, torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 3]), max_shift=1)
    path = res.save(tmp_path / "s.pt")
    back = SensitivityResult.load(path)
    assert torch.allclose(back.maps["softmax"]["euclidean"], res.maps["softmax"]["euclidean"], equal_nan=True)
    assert back.radial_mean("conv", "cosine").shape == (2,)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="s.pt is corrupt or truncated"):
        SensitivityResult.load(path)


def test_bad_settings():
    model = build_network("mnist", 1, 12, 3, "same", channels=[2, 2, 2], hidden=8)
    x, y = torch.rand(2, 1, 12, 12), torch.tensor([0, 1])
    with pytest.raises(ConfigError, match=r"max_shift=6 is not allowed for 12x12 images: use an integer in 0..5"):
        translation_sensitivity(model, x, y, max_shift=6)
    with pytest.raises(ConfigError, match=r"layers=\['nope'\] not found"):
        translation_sensitivity(model, x, y, layers=("nope",))


def test_pooled_views_measure_one_representation_at_several_dimensions():
    from src.sensitivity.dimensionality import PooledViews

    model = PooledViews(nn.Identity(), channels=1, sizes=[8, 4, 1])
    assert model.layer_names == ["views.d64", "views.d16", "views.d1"]
    x = torch.rand(4, 1, 8, 8)
    res = translation_sensitivity(model, x, torch.arange(4), model.layer_names, max_shift=2)
    # a 1x1 average of a non-negative image: cosine 1 for every shift (both scalars positive)
    assert torch.allclose(res.maps["views.d1"]["cosine"][:4], torch.ones(4, 5, 5, dtype=torch.float64))
    assert res.radial_mean("views.d64", "cosine")[2] < res.radial_mean("views.d16", "cosine")[2]
