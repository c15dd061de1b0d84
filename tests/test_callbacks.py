"""Callbacks alone, with hand-made results: no trainer, milliseconds each."""

import numpy as np
import torch
from PIL import Image

from src.callbacks import SensitivityCallback
from src.plotting import map_to_rgb
from src.sensitivity import SensitivityResult


def _result(epoch: int, s: int = 2) -> SensitivityResult:
    cos = (
        torch.linspace(0.2, 1.0, (2 * s + 1) ** 2, dtype=torch.float64)
        .view(1, 2 * s + 1, 2 * s + 1)
        .repeat(3, 1, 1)
    )
    maps = {layer: {"cosine": cos, "euclidean": cos, "distance": 1 - cos} for layer in ("conv", "softmax")}
    return SensitivityResult(maps, cos, cos, torch.tensor([2, 2, 2]), s, {"epoch": epoch})


def test_map_colours_are_not_constant():
    rgb = map_to_rgb(np.array([[0.0, 0.5], [0.75, 1.0]]), scale=3)
    assert rgb.shape == (6, 6, 3) and rgb.dtype == np.uint8
    assert len({tuple(p) for p in rgb.reshape(-1, 3)}) == 4  # four values, four colours


def test_wandb_payload_overlays_every_epoch_and_logs_visible_maps():
    import wandb

    cb = SensitivityCallback(layers=("conv", "softmax"), max_shift=2)
    for epoch in range(3):
        res = _result(epoch)
        cb.curves.append({"epoch": epoch} | {f"{la}/cosine": res.radial_mean(la, "cosine").tolist()
                                             for la in ("conv", "softmax")} | {"accuracy": [1.0, 0.5, 0.2]})  # fmt: skip
    payload = cb.wandb_payload(res)
    chart = payload["sens_radial/conv/cosine"]
    assert sorted({row[1] for row in chart.table.data}) == ["epoch 0", "epoch 1", "epoch 2"]
    image = payload["sens_maps/softmax"]
    assert isinstance(image, wandb.Image)
    with Image.open(image._path) as png:  # the PNG file wandb will upload
        pixels = np.asarray(png)
    assert pixels.ndim == 3 and pixels.max() > pixels.min()  # not the all-black image of a float map
    state = cb.state_dict()
    fresh = SensitivityCallback()
    fresh.load_state_dict(state)
    assert [c["epoch"] for c in fresh.curves] == [0, 1, 2]  # a resumed run keeps the overlay
