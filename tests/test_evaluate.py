"""Epoch-end callback output and `src.evaluate` on a small synthetic run trained once for the module."""

import os
import shutil

import pytest
import torch
from omegaconf import OmegaConf

from src.errors import ConfigError, DataError
from src.evaluate import evaluate_run, find_runs
from src.sensitivity import SensitivityResult
from src.train import train
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    overrides = ["dataset=synthetic", "logger=csv", "max_epochs=2", "stop_train_accuracy=1.0", "max_shift=4"]
    cfg = compose_config("train", overrides, root / "k5")
    train(cfg)
    return root / "k5"


def eval_cfg(run_dir, **kw):
    base = compose_config("evaluate", [f"run_dir={run_dir}", "images_per_class=2", "max_shift=4"], run_dir)
    return OmegaConf.merge(base, kw)


def test_callback_writes_one_result_per_epoch_and_logs_radii(trained_run):
    files = sorted((trained_run / "sensitivity_epochs").glob("epoch=*.pt"))
    assert [f.name for f in files] == ["epoch=000.pt", "epoch=001.pt"]
    res = SensitivityResult.load(files[-1])
    assert res.counts.tolist() == [3] * 10 and res.meta["epoch"] == 1
    header = (trained_run / "metrics.csv").read_text().splitlines()[0].split(",")
    radii = sorted(h for h in header if h.startswith("sens/conv/cosine/r"))
    assert radii == [f"sens/conv/cosine/r{r:02d}" for r in range(7)]  # S=4: radii 0..6


@pytest.mark.slow
def test_evaluate_writes_skips_and_recomputes(trained_run, capsys):
    cfg = eval_cfg(trained_run)
    res = evaluate_run(trained_run, cfg)
    assert res.counts.tolist() == [2] * 10 and res.maps["fc"]["cosine"].shape == (10, 9, 9)
    assert torch.allclose(res.maps["conv"]["cosine"][:, 4, 4], torch.ones(10, dtype=torch.float64), atol=1e-6)
    assert evaluate_run(trained_run, cfg) is None  # complete: skipped
    (trained_run / "sensitivity.pt").write_bytes(b"truncated")
    assert evaluate_run(trained_run, cfg) is not None  # corrupt file treated as missing
    assert "recomputing" in capsys.readouterr().out
    other = OmegaConf.merge(cfg, {"max_shift": 3})  # never silently replace a result measured otherwise
    with pytest.raises(ConfigError, match=r"holds maps with other settings \(max_shift: 4 -> 3\): force=true"):
        evaluate_run(trained_run, other)
    assert evaluate_run(trained_run, OmegaConf.merge(other, {"force": True})).max_shift == 3
    evaluate_run(trained_run, OmegaConf.merge(cfg, {"force": True}))
    ckpt = next((trained_run / "checkpoints").glob("selected-*.ckpt"))
    os.utime(ckpt, ns=(ckpt.stat().st_atime_ns, ckpt.stat().st_mtime_ns + 10**9))  # retrained: other weights
    assert evaluate_run(trained_run, cfg) is not None and "measured on other weights" in capsys.readouterr().out


@pytest.mark.slow
def test_a_result_with_fewer_metrics_is_extended_not_replaced(trained_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    (run / "sensitivity.pt").unlink(missing_ok=True)
    first = evaluate_run(run, eval_cfg(run, metrics=["cosine"]))
    assert list(first.maps["conv"]) == ["cosine"]
    both = evaluate_run(run, eval_cfg(run, metrics=["distance", "cosine"]))  # only distance is computed
    assert "extending" in capsys.readouterr().out and list(both.maps["conv"]) == ["cosine", "distance"]
    assert torch.equal(both.maps["conv"]["cosine"], first.maps["conv"]["cosine"])  # kept, not recomputed
    saved = SensitivityResult.load(run / "sensitivity.pt")
    assert saved.meta["settings"]["metrics"] == ["cosine", "distance"]
    assert evaluate_run(run, eval_cfg(run, metrics=["cosine"])) is None  # holds more than asked: complete
    full = evaluate_run(run, eval_cfg(run, metrics=None, force=True))
    assert torch.allclose(full.maps["conv"]["distance"], both.maps["conv"]["distance"], atol=1e-6)


def test_evaluate_bad_inputs(trained_run, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        find_runs(tmp_path / "missing")
    with pytest.raises(ConfigError, match="holds no runs"):
        find_runs(tmp_path)
    no_ckpt = tmp_path / "no_ckpt"
    shutil.copytree(trained_run, no_ckpt)
    shutil.rmtree(no_ckpt / "checkpoints")
    summary = (no_ckpt / "summary.json").read_text().replace(str(trained_run), str(no_ckpt))
    (no_ckpt / "summary.json").write_text(summary)
    with pytest.raises(DataError, match="has no checkpoint"):
        evaluate_run(no_ckpt, eval_cfg(no_ckpt, force=True))
    other = tmp_path / "other_arch"
    shutil.copytree(trained_run, other)
    (other / "summary.json").write_text(summary.replace(str(no_ckpt), str(other)).replace('"kernel": 5', '"kernel": 3'))
    with pytest.raises(DataError, match="does not fit the network of its run"):
        evaluate_run(other, eval_cfg(other, force=True))


@pytest.mark.slow
def test_sharded_evaluation_over_two_processes_is_exact(trained_run):
    from src.evaluate import sharded_sensitivity
    from src.runs import RunRecord
    from src.sensitivity import translation_sensitivity

    net, dm = RunRecord.read(trained_run).network()
    dm.setup("test")
    x, y = dm.test_set.images[:61], dm.test_set.labels[:61]  # odd: the shards differ in size
    settings = {
        "layers": ["conv", "fc"],
        "max_shift": 2,
        "fill_value": [0.0],
        "batch_size": 128,
        "autocast_dtype": None,
    }
    one = translation_sensitivity(net, x, y, **settings)
    two = sharded_sensitivity(net, x, y, 10, settings, devices=2)
    assert two.counts.sum() == 61 and torch.equal(two.counts, one.counts)
    for layer in ("conv", "fc"):
        for metric in ("cosine", "euclidean", "distance"):
            assert torch.allclose(two.maps[layer][metric], one.maps[layer][metric], atol=1e-6, equal_nan=True)
    assert torch.allclose(two.accuracy, one.accuracy, equal_nan=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_shift=-1", "max_shift=-1 is not allowed: must be an integer >= 0"),
        ("images_per_class=0", "images_per_class=0 is not allowed"),
        ("autocast=bf17", "autocast='bf17' is not allowed: a torch dtype"),
        ("batch_size=0", "batch_size=0 is not allowed"),
        ("metrics=[cosin]", r"metrics=\['cosin'\] is not allowed: name one or more of"),
    ],
)
def test_evaluate_settings_are_checked_first(tmp_path, override, message):
    from src.evaluate import check_evaluate_config

    cfg = compose_config("evaluate", [f"run_dir={tmp_path}", override], tmp_path)
    with pytest.raises(ConfigError, match=message):
        check_evaluate_config(cfg)
