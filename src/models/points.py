"""Measuring points: where a network is read. One registry per model class, declared on the class with
`@measured_at(Point(name, title), ...)` in input-to-output order; a point's name is its module's name in
`named_modules()`, so the engine's forward hooks find it.

Read by: the engine (`layers=all` measures the model's `depth_points`, the registered points its configuration
has), the check of every `layers` setting (`src.sensitivity.maps.check_layers` lists them), Fig. 3 and §4.3.1 (they
read `conv` by name), and every figure's titles (`point_titles`). The engine's own two points, the input image and
the softmax output, belong to every model.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.sensitivity.maps import CONV, LOGITS, POINTS

__all__ = ["CONV", "LOGITS", "Point", "measured_at", "present_points", "point_titles"]


@dataclass(frozen=True)
class Point:
    name: str  # the module's name in named_modules()
    title: str  # what a figure calls it


ENGINE_POINTS = tuple(Point(name, title) for name, title in POINTS.items())  # input and softmax: the engine's
REGISTRY: dict[str, tuple[Point, ...]] = {}  # model class -> its points, input to output


def measured_at(*points: Point):
    """Class decorator: the model's measuring points (`cls.POINTS`), registered for titles and checks."""

    def register(cls):
        cls.POINTS = points
        REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = points
        return cls

    return register


def present_points(model) -> list[str]:
    """The registered points that exist in this configuration of `model` (e.g. a GAP head has no hidden layer:
    an identity or a bare flatten is not a stage), input to output."""
    from torch import nn

    modules = dict(model.named_modules())
    # exact types: a subclass of Identity (a tap fed by a hook, as in torchvision_net) is a real point
    stages = {name for name, module in modules.items() if type(module) not in (nn.Identity, nn.Flatten)}
    return [p.name for p in model.POINTS if p.name in stages]


def point_titles() -> dict[str, str]:
    """name -> title of every registered point (of every model module imported so far) and of the engine's points;
    the first model registering a name titles it. `src.conf.import_models()` imports every model of conf/model/."""
    titles = {p.name: p.title for p in ENGINE_POINTS}
    for points in REGISTRY.values():
        for p in points:
            titles.setdefault(p.name, p.title)
    return titles
