"""Figure numbers, claims and drawing, on hand-made results (no training): milliseconds to a second each."""

import json
import math
import warnings

import pytest
import torch

from src.figures import FIGURES, draw
from src.figures.claims import Claim, evaluate_claim, holm_adjust
from src.figures.correlation import correlation_numbers
from src.figures.radial import radial_numbers
from src.sensitivity import SensitivityResult
from src.sensitivity.stats import (
    equivalence_verdict,
    holm,
    mean_ci,
    paired_difference,
    seeds_needed,
    shifts_per_radius,
    t_quantile,
    tost,
    verdict,
)


def test_t_quantiles_and_intervals_match_tables():
    assert t_quantile(0.975, 2) == pytest.approx(4.303, abs=1e-3)  # printed t tables
    assert t_quantile(0.975, 10) == pytest.approx(2.228, abs=1e-3)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.960, abs=1e-3)
    ci = mean_ci([1.0, 2.0, 3.0])
    assert (ci["mean"], ci["std"]) == (2.0, 1.0)
    assert ci["high"] - 2.0 == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    assert mean_ci([5.0])["low"] is None and verdict(mean_ci([5.0])) == "unresolved at n=1"


def test_verdicts_follow_the_interval():
    up = paired_difference([1.0, 1.1, 0.9], [0.0, 0.1, -0.1])  # differences 1, 1, 1: zero spread
    assert verdict(up) == "holds" and verdict(up, -1) == "does not hold"
    noisy = paired_difference([1.0, -1.0, 0.5], [0.0, 0.0, 0.0])
    assert verdict(noisy) == "unresolved at n=3" == verdict(noisy, -1)


def test_shifts_per_radius_marks_corner_rings():
    counts = shifts_per_radius(10)
    assert sum(counts) == 441 and counts[11:] == [44, 24, 20, 4] and counts[:2] == [1, 8]


def _result(level: float, seed: int, classes: int = 3, s: int = 2) -> SensitivityResult:
    """Maps that fall linearly with radius from 1 by `level` per pixel, plus a little seed noise."""
    r = torch.tensor([[math.hypot(x, y) for x in range(-s, s + 1)] for y in range(-s, s + 1)], dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)

    def maps():
        return 1 - level * r + 0.001 * torch.randn(classes, 2 * s + 1, 2 * s + 1, generator=g, dtype=torch.float64)

    layers = {name: {"cosine": maps(), "euclidean": maps(), "distance": 1 - maps()} for name in ("conv", "softmax")}
    return SensitivityResult(layers, maps(), maps(), torch.full((classes,), 4), s)


def test_claims_on_made_up_kernels():
    results = {"k=3": [_result(0.1, s) for s in range(3)], "k=5": [_result(0.2, s + 10) for s in range(3)]}
    radial = radial_numbers(results, ["conv", "softmax"])
    assert len(radial["conv"]["cosine"]["k=3"]) == 3  # one profile per seed
    holds = evaluate_claim(Claim("k=3 > k=5", ("conv", "k=3"), ("conv", "k=5")), radial, "softmax", 2)
    assert holds["verdict"] == "holds" and holds["holds_at_radii"] == [1, 2]
    assert holds["difference"]["mean"] == pytest.approx(0.1 * 1.5, abs=0.02)  # mean radius of rings 1-2 is ~1.5
    against = evaluate_claim(Claim("k=5 > k=3", ("output", "k=5"), ("output", "k=3")), radial, "softmax", 2)
    assert against["verdict"] == "does not hold" and against["a"] == ["output", "k=5"]
    null = evaluate_claim(Claim("k=3 = k=3", ("conv", "k=3"), ("softmax", "k=3"), 0), radial, "softmax", 2)
    assert null["verdict"] == "equivalent" and null["test"] == "TOST" and null["tost"]["p"] < 0.05
    far = evaluate_claim(Claim("k=3 = k=5", ("conv", "k=3"), ("conv", "k=5"), 0), radial, "softmax", 2)
    assert far["verdict"] == "different"  # a 0.15 difference is not "no effect"
    family = holm_adjust([holds, against, null, far])
    assert [c["verdict_holm"] for c in family] == ["holds", "does not hold", "equivalent", "different"]
    assert all(c["p_holm"] >= c["p"] for c in family)


def test_tost_on_a_case_known_by_hand():
    # differences +-0.01: mean 0, sd 0.011547, se 0.005774; t against -0.02 is 3.464 with 3 df: p = 0.0202
    diffs = [0.01, -0.01, 0.01, -0.01]
    test = tost(diffs, 0.02)
    assert test["p_lower"] == pytest.approx(0.0202, abs=2e-4) and test["p"] == pytest.approx(test["p_upper"])
    assert equivalence_verdict(diffs, 0.02)[0] == "equivalent"
    assert equivalence_verdict(diffs, 0.01)[0] == "unresolved at n=4"  # t = 1.732: p = 0.09
    assert equivalence_verdict([0.05, 0.06, 0.055], 0.02)[0] == "different"
    assert test["ci90"][0] > -0.02 and test["ci90"][1] < 0.02  # TOST at 5 % = the 90 % interval inside


def test_holm_on_a_textbook_example():
    # sorted p 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, None, 0.9]) == [0.4, None, 0.9]
    assert holm([0.6, 0.7]) == [1.0, 1.0]


def test_seeds_needed_matches_power_tables():
    # one-sided paired t test, effect size d = 0.5, alpha 0.05, power 0.8: 27 pairs (Cohen's tables, G*Power)
    assert seeds_needed(0.5, 1.0) == 27
    assert seeds_needed(1.0, 1.0) == 8
    assert seeds_needed(0.0, 1.0) is None and seeds_needed(0.03, 0.01, margin=0.02) is None
    assert 2 < seeds_needed(0.0, 0.01, margin=0.02) < seeds_needed(0.01, 0.01, margin=0.02)


def test_correlation_numbers_negate_the_distance():
    res = [_result(0.1, s) for s in range(3)]
    corr = correlation_numbers(res, "softmax")
    assert set(corr["per_class"]) == {"cosine vs accuracy", "-distance vs accuracy", "cosine vs -distance"}
    assert len(corr["per_class"]["cosine vs accuracy"]) == 3  # seeds
    assert all(c["verdict"] == "holds" for c in corr["claims"])  # all three maps fall with radius together


def test_figures_redraw_from_their_json_alone(tmp_path):
    results = {f"k={k}": [_result(0.05 * k, s) for s in range(3)] for k in (3, 4, 5)}
    radial = radial_numbers(results, ["conv", "softmax"])
    numbers = {"figure": "2", "name": "fig2", "provenance": "test", "max_shift": 2, "output_layer": "softmax",
               "radial": radial}  # fmt: skip
    (tmp_path / "fig2.json").write_text(json.dumps(numbers))
    written = draw(json.loads((tmp_path / "fig2.json").read_text()), tmp_path, provenance=False)
    assert [p.name for p in written] == ["fig2.png", "fig2.pdf"]  # no logits in these numbers: no extra figure
    assert all(p.stat().st_size > 5000 for p in written)
    assert {"1", "2", "3", "4", "5", "6", "fashion4", "fashion6", "extras", "depth", "levers"} <= set(FIGURES)


def test_depth_numbers_and_figure(tmp_path):
    from src.figures.depth import depth_numbers

    results = {"k=5": [_result(0.3, s) for s in range(2)]}  # cosine 1 - 0.3 r: below 0.5 from r = 2
    depth = depth_numbers(results, 2)["k=5"]
    assert depth["layers"] == ["conv", "softmax"] and depth["radius_below_half"] == [[2, 2], [2, 2]]
    assert depth["mean_cosine"][0][0] == pytest.approx(0.5, abs=0.02)  # 1 - 0.3 x (mean ring radius ~1.7)
    flat = depth_numbers({"flat": [_result(0.01, 0)]}, 2)["flat"]  # never below 0.5 up to r = 2: null
    assert flat["radius_below_half"] == [[None, None]]
    numbers = {"figure": "depth", "name": "depth", "provenance": "", "max_shift": 2,
               "depth": {"k=5": depth, "flat": flat | {"radius_below_half": [[None, 2], [None, None]]}}}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a censored radius is drawn as "never", not dropped as an empty mean
        assert [p.name for p in draw(numbers, tmp_path)] == ["depth.png", "depth.pdf"]


def test_welch_difference_on_a_case_known_by_hand():
    from src.sensitivity.stats import welch_difference

    # a = 1..5, b = 2, 4, .., 10: difference -3, se = sqrt(2.5/5 + 10/5) = 1.581, df = 2.5^2 / (0.25/4 + 4/4) = 5.88
    d = welch_difference([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert d["mean"] == pytest.approx(-3.0) and d["df"] == pytest.approx(5.882, abs=1e-3)
    half = t_quantile(0.975, 6.25 / 1.0625) * math.sqrt(2.5)
    assert d["low"] == pytest.approx(-3 - half, abs=1e-6) and d["high"] == pytest.approx(-3 + half, abs=1e-6)
    assert 0.10 < d["p"] < 0.12


def test_redraw_into_an_empty_folder_is_byte_identical_twice(tmp_path):
    from src.reproduce import main
    from tests.conftest import compose_config

    cfg = compose_config("reproduce", ["figure=5", "redraw=true", f"figures_dir={tmp_path}"], tmp_path)
    main.__wrapped__(cfg)  # reads the committed figures/fig5.json
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {"fig5.png", "fig5.pdf", "fig5.json"} <= set(first)
    main.__wrapped__(cfg)  # again, now from the copy it wrote
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first  # no dates: git stays clean


def test_another_metric_is_drawn_and_tested_under_its_own_name(tmp_path):
    """metric=distance redraws the committed cosine JSON on its distance profiles: files fig5_distance.*, claims
    with the direction flipped (smaller distance = more invariant); fig5.* is never overwritten."""
    from src.reproduce import main
    from tests.conftest import compose_config

    cfg = compose_config("reproduce", ["figure=5", "redraw=true", "metric=distance", f"figures_dir={tmp_path}"],
                         tmp_path)  # fmt: skip
    main.__wrapped__(cfg)
    assert {p.name for p in tmp_path.iterdir()} >= {"fig5_distance.png", "fig5_distance.json"}
    assert not (tmp_path / "fig5.json").exists()
    numbers = json.loads((tmp_path / "fig5_distance.json").read_text())
    assert numbers["metric"] == "distance" and numbers["name"] == "fig5_distance"
    assert {c["metric"] for c in numbers["claims"]} == {"distance"}
    assert {c["direction"] for c in numbers["claims"]} == {-1, 0}  # "k=5 > k=4" in invariance: smaller distance
    with pytest.raises(SystemExit) as exit_:  # a one-line error, exit status 2, before any work
        main.__wrapped__(compose_config("reproduce", ["figure=5", "redraw=true", "metric=pearsn"], tmp_path))
    assert exit_.value.code == 2
    for figure in ("depth", "1"):  # drawn on cosine alone: refused before any training, never saved under the name
        with pytest.raises(SystemExit) as exit_:
            main.__wrapped__(compose_config("reproduce", [f"figure={figure}", "metric=distance"], tmp_path))
        assert exit_.value.code == 2 and not list(tmp_path.glob(f"*{figure}_distance*"))


def test_no_padding_figures_name_the_final_map_size():
    from src.figures.radial import final_map_sizes
    from src.models.cnn import build_network

    sizes = final_map_sizes("exp2_mnist")
    assert sizes == {"k=3": "3x3", "k=4": "2x2", "k=5": "1x1"}  # the paper's Table 3
    for k in (3, 4, 5):  # the label agrees with the network itself
        net = build_network("mnist", 1, 40, k, "none")
        side = net.conv(net.block2(net.block1(torch.zeros(1, 1, 40, 40)))).shape[-1]
        assert sizes[f"k={k}"] == f"{side}x{side}"
    assert final_map_sizes("exp1_mnist") == {}  # padded networks keep one size: no label


def test_epochs_figure_marks_the_selected_epoch():
    from src.figures.extras import epochs_figure

    fig = epochs_figure([[1.0, 0.5], [1.0, 0.6], [1.0, 0.7]], [0, 1, 2], 1, "cosine", selected=1)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["epoch 0", "epoch 1 (selected)", "epoch 2"]


def test_claims_are_not_tested_on_numbers_that_cannot_test_them():
    """Zero spread over seeds (copies of one run), a raw distance across layers of different size, "no effect" on a
    metric without a margin: each says why instead of giving p = 0 or a verdict; a damaged profile is one line."""
    from src.errors import DataError
    from src.figures.claims import Claim, claims_for

    same = [[1.0, 0.8, 0.7], [1.0, 0.8, 0.7], [1.0, 0.8, 0.7]]  # three identical seeds
    radial = {la: {m: {"k=3": same, "k=5": [[1.0, 0.6, 0.5]] * 3} for m in ("cosine", "euclidean", "distance")}
              for la in ("conv", "softmax")}  # fmt: skip
    claims = [Claim("k=3 > k=5", ("output", "k=3"), ("output", "k=5")),
              Claim("FC adds", ("output", "k=3"), ("conv", "k=3")),
              Claim("k=3 = k=5", ("output", "k=3"), ("output", "k=5"), 0)]  # fmt: skip
    copies = claims_for(claims, radial, "softmax", 2)["claims"]
    assert all(
        c["verdict"] == c["verdict_holm"] == "not tested: no spread over 3 seeds (identical runs?)" for c in copies
    )
    radial["softmax"]["distance"]["k=3"] = [[0.0, 0.1, 0.2], [0.0, 0.2, 0.3], [0.0, 0.1, 0.25]]
    by_distance = {c["claim"]: c["verdict"] for c in claims_for(claims, radial, "softmax", 2, "distance")["claims"]}
    assert by_distance["FC adds"].startswith("not tested: distance is not comparable across layers")
    assert (
        by_distance["k=3 = k=5"] == "not tested: no equivalence margin is set for distance (src/sensitivity/metrics.py)"
    )
    radial["softmax"]["cosine"]["k=3"] = [[1.0, None, 0.7], [1.0, 0.8, 0.7], [1.0, 0.8, 0.7]]
    with pytest.raises(DataError, match="profile of k=3 at softmax, seed index 0, lacks radii 0..2"):
        claims_for(claims, radial, "softmax", 2)
    radial["softmax"]["cosine"]["k=3"] = [[1.0, 0.8]] * 3  # shorter than max_shift
    with pytest.raises(DataError, match="lacks radii 0..2"):
        claims_for(claims, radial, "softmax", 2)


def test_depth_and_epoch_figures_keep_their_legends_readable():
    """The depth figure: a numeric radius axis (no "never" tick) and its legend inside a panel; the epochs figure
    over 26 epochs: a colour bar of the epochs, not a 26-entry legend over half the axes."""
    from src.figures.depth import depth_figure, depth_numbers
    from src.figures.extras import epochs_figure

    depth = depth_numbers({"k=5": [_result(0.3, s) for s in range(2)]}, 2)
    fig = depth_figure(depth, 2)
    assert all(t.get_text().replace("−", "-").lstrip("-").isdigit() for t in fig.axes[1].get_yticklabels())
    assert fig.axes[0].get_legend() is not None and not fig.legends
    profiles = [[1.0, 0.9 - 0.001 * e, 0.8] for e in range(26)]
    fig = epochs_figure(profiles, list(range(26)), 2, "cosine", selected=25)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["epoch 25 (selected)"] and len(fig.axes) == 2  # + colour bar


def test_an_experiment_without_a_dataset_override_trains_on_the_default_dataset(tmp_path, monkeypatch):
    """A user's own experiment file need not name a dataset or padding: conf/train.yaml's defaults apply, as in
    training; an unknown experiment is one line."""
    import shutil

    import src.conf
    from src.errors import ConfigError

    conf = shutil.copytree(src.conf.CONF_DIR, tmp_path / "conf")
    (conf / "experiment" / "mine.yaml").write_text("# @package _global_\ntask_name: mine\n")
    monkeypatch.setattr(src.conf, "CONF_DIR", conf)
    assert src.conf.experiment_settings("mine") == {"dataset": "mnist", "padding": "same", "border": 6}
    with pytest.raises(ConfigError, match="experiment='nope' is not allowed"):
        src.conf.experiment_settings("nope")
