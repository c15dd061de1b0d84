"""Any torchvision classification model as the network, measured at the paper's points by name.

`TorchvisionClassifier` wraps the model (`net`) and adds two taps, identity modules fed by forward hooks: `conv`
sees the output of the module named by `conv_layer` (the last conv stage, e.g. ResNet's layer4) and `fc` that of
`fc_layer` (the classifier). So `layers=[conv,softmax,fc]`, the callbacks and the figures work unchanged; every
module of `net` is measurable too, under `net.<name>`.
"""

from __future__ import annotations

import torch
from torch import nn

from src.errors import ConfigError
from src.models.points import CONV, LOGITS, Point, measured_at, present_points


class Tap(nn.Identity):
    """A measuring point fed by a forward hook on another module (an identity, but a stage: see present_points)."""


def _feed(tap: nn.Module):
    """A forward hook that passes the hooked module's output through `tap` (whose own hooks then see it)."""

    def hook(_module, _inputs, output):
        tap(output)

    return hook


@measured_at(
    Point("net.layer1", "ResNet stage 1 output"),
    Point("net.layer2", "ResNet stage 2 output"),
    Point("net.layer3", "ResNet stage 3 output"),
    Point(CONV, "last conv stage output (model.conv_layer)"),
    Point(LOGITS, "classifier output, logits (model.fc_layer)"),
)
class TorchvisionClassifier(nn.Module):
    """torchvision `name` (random initialisation) for images (N, in_channels, image_size, image_size).

    small_input_stem: for ResNets, a 3x3 stride-1 first conv and no max-pool (the usual CIFAR adaptation), so that
    40x40 or 44x44 inputs keep spatial detail; other models get their first conv's input channels adapted only.
    """

    def __init__(
        self,
        family: str,
        in_channels: int,
        image_size: int,
        kernel: int,
        padding: str,
        num_classes: int = 10,
        name: str = "resnet18",
        conv_layer: str = "layer4",
        fc_layer: str = "fc",
        small_input_stem: bool = True,
    ) -> None:
        super().__init__()
        import torchvision.models as tvm

        if name not in tvm.list_models(module=tvm):
            raise ConfigError(f"model.name={name!r} is not a torchvision classification model: e.g. resnet18")
        net = tvm.get_model(name, weights=None, num_classes=num_classes)
        if small_input_stem and hasattr(net, "conv1") and hasattr(net, "maxpool"):
            net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        else:
            path, first = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
            parent = net.get_submodule(path.rpartition(".")[0]) if "." in path else net
            geometry = {"kernel_size": first.kernel_size, "stride": first.stride, "padding": first.padding}
            stem = nn.Conv2d(in_channels, first.out_channels, bias=first.bias is not None, **geometry)
            setattr(parent, path.rpartition(".")[2], stem)
        self.net = net
        self.conv, self.fc = Tap(), Tap()  # see the module docstring
        for tap, path in ((CONV, conv_layer), (LOGITS, fc_layer)):
            try:
                target = net.get_submodule(path)
            except AttributeError:
                raise ConfigError(f"model.{tap}_layer={path!r} is not a module of {name}") from None
            target.register_forward_hook(_feed(getattr(self, tap)))
        # layers=all: input, each stage the model has, the taps, softmax
        self.depth_points = present_points(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
