"""Fast paths (channels_last, bf16, torch.compile) give the results of the plain fp32 path, on CPU."""

import pytest
import torch

from src.models import build_network
from src.sensitivity import translation_sensitivity
from src.train import train


def _maps(**kw):
    torch.manual_seed(0)
    net = build_network("mnist", 1, 40, 5, "same")
    x, y = torch.rand(6, 1, 40, 40), torch.arange(6)
    return translation_sensitivity(net, x, y, max_shift=3, **kw)


def test_sensitivity_channels_last_equals_contiguous():
    a, b = _maps(channels_last=True), _maps(channels_last=False)
    for layer in ("conv", "softmax"):
        for metric in ("cosine", "euclidean"):
            diff = (a.maps[layer][metric] - b.maps[layer][metric]).abs().nan_to_num().max()
            assert diff <= 1e-5


def test_sensitivity_bf16_stays_close_to_fp32():
    a, b = _maps(), _maps(autocast_dtype=torch.bfloat16)
    diff = (a.maps["conv"]["cosine"] - b.maps["conv"]["cosine"]).abs().nan_to_num().max()
    assert 0 < diff <= 0.05  # bf16 keeps ~3 significant digits: close, not equal


@pytest.mark.slow
@pytest.mark.parametrize("fast", [["channels_last=true"], ["channels_last=false", "trainer.precision=bf16-mixed"]])
def test_training_fast_paths_match_fp32(train_cfg, tmp_path, fast, monkeypatch):
    import src.hardware

    # the arithmetic is checked even on a CPU without native bf16 (emulated there, where training refuses it)
    monkeypatch.setattr(src.hardware, "bf16_supported", lambda device: True)
    ref_cfg = train_cfg("max_shift=1", "channels_last=false")  # the plain NCHW reference
    ref = train(ref_cfg)
    cfg = train_cfg("max_shift=1", *fast)
    cfg.paths.output_dir = str(tmp_path / "fast")
    got = train(cfg)
    tol = 0.05 if any("bf16" in f for f in fast) else 1e-4
    assert abs(got["history"][0]["train/loss"] - ref["history"][0]["train/loss"]) <= tol
    assert abs(got["test_acc"] - ref["test_acc"]) <= max(tol, 0.01)


def test_compiled_network_keeps_checkpoint_keys_and_outputs():
    torch.manual_seed(0)
    net = build_network("mnist", 1, 40, 3, "same")
    keys, x = set(net.state_dict()), torch.rand(2, 1, 40, 40)
    ref = net(x)
    net.compile(backend="eager")  # the compile wrapper without a C++ toolchain; GPUs use the default backend
    assert set(net.state_dict()) == keys
    assert torch.allclose(net(x), ref, atol=1e-6)


def test_training_profile_accounts_for_the_step():
    """`make bench`'s profile: every phase of a step is timed, and the profiled ops are the network's. How the phases
    add up to the step is a timing and belongs in `make bench` (a loaded machine failed a 5 % check here)."""
    from src.bench import training_profile

    p = training_profile(steps=6, batch=16)
    assert set(p["phases"]) == {"batch gather", "forward", "loss", "backward", "optimizer"}
    assert all(ms > 0 for ms in p["phases"].values()) and p["step_ms"] > 0
    assert p["ops"]["convolution backward"] > 0 and p["ops"]["convolution forward"] > 0
    assert p["ops"].get("other ops", 0.0) < 0.5 * sum(p["ops"].values())  # the groups name most of the time


def test_bench_counts_the_forward_flops_and_times_a_gemm():
    """`make bench`'s physical limit: 8.56 MFLOP per forward of the Table 1 k=5 network (conv + FC layers)."""
    from src.bench import forward_flops, gemm_rate

    net = build_network("mnist", 1, 40, 5, "same")
    assert forward_flops(net, (1, 40, 40)) == pytest.approx(8.56e6, rel=0.005)
    # GFLOP/s: positive, and in GFLOP/s rather than FLOP/s (no CPU does 1e5 GFLOP/s); no lower bound, since a
    # loaded 2-core CI machine with oversubscribed threads measured < 0.1
    assert 0 < gemm_rate(torch.float32, n=128, seconds=0.05) < 1e5
