from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from src.errors import ConfigError
from src.models import PAPER_CHANNELS, build_network, feature_map_sizes

# The "Output Size" columns of the paper's Tables 1-4: conv1, pool1, conv2, pool2, conv3, pool3.
PAPER_OUTPUT_SIZES = {
    ("mnist", "same"): {k: [40, 20, 20, 10, 10, 5] for k in (3, 4, 5)},
    ("cifar10", "same"): {k: [44, 22, 22, 11, 11, 5] for k in (3, 4, 5)},
    ("mnist", "none"): {5: [36, 18, 14, 7, 3, 1], 4: [37, 18, 15, 7, 4, 2], 3: [38, 19, 17, 8, 6, 3]},
    ("cifar10", "none"): {5: [40, 20, 16, 8, 4, 2], 4: [41, 20, 17, 8, 5, 2], 3: [42, 21, 19, 9, 7, 3]},
}
PAPER_CHANNEL_COLUMNS = {  # the "Channels" columns, read off the tables
    ("mnist", "same"): {3: (10, 20, 30), 4: (10, 20, 30), 5: (10, 20, 30)},
    ("cifar10", "same"): {3: (50, 100, 150), 4: (50, 100, 150), 5: (50, 100, 150)},
    ("mnist", "none"): {5: (10, 20, 30), 4: (16, 31, 47), 3: (28, 56, 83)},
    ("cifar10", "none"): {5: (50, 100, 150), 4: (78, 156, 234), 3: (139, 278, 416)},
}
CASES = [(f, p, k) for (f, p), table in PAPER_OUTPUT_SIZES.items() for k in table]


@pytest.mark.parametrize(("family", "padding", "kernel"), CASES)
def test_every_output_size_of_tables_1_to_4(family, padding, kernel):
    in_ch, size = (1, 40) if family == "mnist" else (3, 44)
    net = build_network(family, in_ch, size, kernel, padding)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(o.shape)) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.MaxPool2d)]  # fmt: skip
    out = net(torch.zeros(2, in_ch, size, size))
    for h in hooks:
        h.remove()
    expected = PAPER_OUTPUT_SIZES[(family, padding)][kernel]
    assert [s[-1] for s in shapes] == expected == feature_map_sizes(size, kernel, padding)
    assert all(s[-1] == s[-2] for s in shapes)
    assert [s[1] for s in shapes[::2]] == list(PAPER_CHANNEL_COLUMNS[(family, padding)][kernel])
    assert PAPER_CHANNELS[(family, padding)][kernel] == PAPER_CHANNEL_COLUMNS[(family, padding)][kernel]
    assert out.shape == (2, 10)
    assert net.hidden[0].out_features == 500


def test_measuring_points_are_named_conv_and_fc():
    net = build_network("mnist", 1, 40, 5, "same")
    modules = dict(net.named_modules())
    seen = {}
    for name in ("conv", "fc"):
        modules[name].register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
    logits = net(torch.rand(3, 1, 40, 40))
    assert seen["conv"].shape == (3, 30, 5, 5)  # after the last pool
    assert torch.equal(seen["fc"], logits)


def test_he_initialisation():
    torch.manual_seed(0)
    net = build_network("cifar10", 3, 44, 3, "none")
    w = net.conv[0].weight
    fan_in = w[0].numel()
    assert w.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    assert torch.count_nonzero(net.fc.bias) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": 0}, "kernel=0"),
        ({"kernel": "abc"}, "kernel='abc'"),
        ({"padding": "foo"}, "padding='foo'"),
        ({"kernel": 7}, "kernel=7 is not in the paper's tables"),
        ({"kernel": 21, "padding": "none", "channels": [1, 1, 1]}, "shrinks"),
    ],
)
def test_bad_architecture_settings(kwargs, match):
    args = {"family": "mnist", "in_channels": 1, "image_size": 40, "kernel": 5, "padding": "same"} | kwargs
    with pytest.raises(ConfigError, match=match):
        build_network(**args)


def test_other_kernels_with_explicit_channels():
    net = build_network("mnist", 1, 40, 7, "same", channels=[4, 8, 8])
    assert net(torch.zeros(1, 1, 40, 40)).shape == (1, 10)


def test_model_config_group_builds_the_paper_network_and_completes_old_runs(tmp_path):
    from src.conf import datamodule, model_config
    from src.models.build import build_model
    from tests.conftest import compose_config

    cfg = compose_config("train", ["dataset=synthetic", "kernel=3", "padding=none"], tmp_path)
    dm = datamodule("synthetic")
    net = build_model(cfg.model, dm, cfg.kernel, cfg.padding)
    assert [net.block1[0].out_channels, net.conv[0].out_channels] == [28, 83]  # Table 3, k=3
    # a run trained before the model group existed: no _target_, and options that are no longer model keys
    old = model_config({"channels": [4, 8, 8], "hidden": 12, "channels_last": False, "compile": False})
    assert old._target_ == "src.models.build_network" and old.hidden == 12 and "compile" not in old
    assert build_model(old, dm, 5, "same").fc.in_features == 12


def test_conv_block_is_conv_relu_maxpool_bitwise():
    """The block pools before its ReLU (faster); outputs and weight gradients equal the paper's conv -> ReLU ->
    max-pool order bit for bit, negative inputs and ties included."""
    from src.models.cnn import conv_block

    torch.manual_seed(0)
    block = conv_block(3, 4, 3, "same")
    x = torch.randn(2, 3, 9, 8)
    x[0, :, :4, :4] = -1.0  # a region where the conv output is constant: ties in the pool windows
    conv = block[0]
    ref = torch.nn.functional.max_pool2d(torch.relu(conv(x)), 2, 2)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), conv.weight)
    out = block(x)
    (g,) = torch.autograd.grad(out.square().sum(), conv.weight)
    assert torch.equal(out, ref) and torch.equal(g, g_ref)


def test_blur_pool_matches_its_definition():
    """Zhang 2019: max over 2x2 windows with stride 1, then the [1,2,1]x[1,2,1]/16 blur with stride 2 on the
    reflect-padded map. Checked against a plain loop over output pixels."""
    from src.models.cnn import BlurPool

    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 7)
    out = BlurPool(3)(x)
    m = torch.stack([torch.stack([x[..., i : i + 2, j : j + 2].amax((-2, -1)) for j in range(6)], -1)
                     for i in range(7)], -2)  # fmt: skip
    padded = torch.nn.functional.pad(m, (1, 1, 1, 1), mode="reflect")
    w = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    ref = torch.stack([torch.stack([(padded[..., 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * w).sum((-2, -1))
                                    for j in range(out.shape[-1])], -1) for i in range(out.shape[-2])], -2)  # fmt: skip
    assert out.shape == (2, 3, 4, 3) == torch.nn.MaxPool2d(2, 2)(x).shape
    assert torch.allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize(("pool", "head"), [("blur", "fc"), ("max", "gap"), ("blur", "gap")])
def test_model_options_keep_the_tables_sizes(pool, head):
    for padding, kernel in (("same", 5), ("none", 3), ("none", 5)):
        net = build_network("mnist", 1, 40, kernel, padding, pool=pool, head=head)
        assert net(torch.rand(2, 1, 40, 40)).shape == (2, 10)
        side = feature_map_sizes(40, kernel, padding)[-1]
        assert net.conv(net.block2(net.block1(torch.rand(1, 1, 40, 40)))).shape[-1] == side
    with pytest.raises(ConfigError, match="model.pool='no-such-pool' is not allowed"):
        build_network("mnist", 1, 40, 5, "same", pool="no-such-pool")


@pytest.mark.parametrize("model", sorted(p.stem for p in Path("conf/model").glob("*.yaml")))
def test_every_model_has_the_points_the_figures_read_by_name(model):
    """The figures, the report and the callback's default read CONV and LOGITS by name (src.sensitivity.maps): every
    model of conf/model/ has both in its default configuration, and LOGITS is its output."""
    from src.conf import datamodule, model_config
    from src.models.build import build_model
    from src.models.points import present_points
    from src.sensitivity.maps import CONV, LOGITS

    dm = datamodule("synthetic")
    net = build_model(model_config(OmegaConf.load(f"conf/model/{model}.yaml")), dm, 5, "same")
    assert {CONV, LOGITS} <= set(present_points(net))
    seen = {}
    dict(net.named_modules())[LOGITS].register_forward_hook(lambda m, i, o: seen.setdefault(LOGITS, o))
    logits = net.eval()(torch.rand(2, dm.info.in_channels, dm.image_size, dm.image_size))
    assert torch.equal(seen[LOGITS], logits)


def test_torchvision_model_has_the_measuring_points():
    from src.models.torchvision_net import TorchvisionClassifier
    from src.sensitivity import measuring_points, translation_sensitivity

    net = TorchvisionClassifier("cifar10", 3, 44, 5, "same", num_classes=10, name="resnet18")
    x = torch.rand(2, 3, 44, 44)
    assert net(x).shape == (2, 10) and net.net.conv1.kernel_size == (3, 3)
    res = translation_sensitivity(net, x, torch.tensor([0, 1]), "all", max_shift=1)
    assert res.layers == measuring_points(net, "all") == [
        "input", "net.layer1", "net.layer2", "net.layer3", "conv", "fc", "softmax"]  # fmt: skip
    assert torch.allclose(res.maps["fc"]["cosine"][:2, 1, 1], torch.ones(2, dtype=torch.float64), atol=1e-6)
    with pytest.raises(ConfigError, match="not a torchvision classification model"):
        TorchvisionClassifier("mnist", 1, 40, 5, "same", name="resnet_nope")


@pytest.mark.parametrize("head", sorted(__import__("src.models.cnn", fromlist=["HEADS"]).HEADS))
def test_every_measuring_point_of_the_network_has_a_title(head):
    """Figures title points from the model's registry: every stage the depth figure measures is named there, and
    every registered point the configuration has is measured by layers=all."""
    from src.models.cnn import StandardCNN, build_network
    from src.models.points import point_titles
    from src.plotting import layer_title
    from src.sensitivity.maps import measuring_points

    net = build_network("mnist", 1, 40, 5, "same", head=head)
    stages = measuring_points(net, "all")
    assert all(p in point_titles() for p in stages)
    assert stages[0] == "input" and stages[-1] == "softmax" and "conv" in stages and "fc" in stages
    assert [p for p in stages[1:-1]] == [p.name for p in StandardCNN.POINTS if p.name in stages[1:-1]]
    assert layer_title("block3") == "block3"  # an unknown point is drawn under its own name, never a KeyError


@pytest.mark.parametrize("name", sorted(__import__("src.models.cnn", fromlist=["POOLS"]).POOLS))
def test_every_pool_of_the_table_computes_conv_relu_pool(name):
    """Whatever order a block uses, it computes the paper's conv -> ReLU -> pool, and halves the map."""
    from src.models.cnn import POOLS, conv_block

    torch.manual_seed(0)
    block = conv_block(2, 4, 3, "same", pool=name)
    x = torch.randn(2, 2, 11, 11)
    reference = POOLS[name].make(4)(torch.relu(block[0](x)))
    assert torch.allclose(block(x), reference, atol=1e-6)
    assert block(x).shape[-2:] == (5, 5)
