"""Callbacks alone, with hand-made results: no trainer, milliseconds each."""

import numpy as np
import pytest
import torch
from PIL import Image

from src.callbacks import SensitivityCallback
from src.sensitivity import SensitivityResult
from src.wandb_log import RADIAL_COLUMNS


def _result(epoch: int, s: int = 2) -> SensitivityResult:
    cos = torch.linspace(0.2, 1.0, (2 * s + 1) ** 2, dtype=torch.float64).view(1, 2 * s + 1, 2 * s + 1).repeat(3, 1, 1)
    maps = {layer: {"cosine": cos, "euclidean": cos, "distance": 1 - cos} for layer in ("conv", "softmax")}
    return SensitivityResult(maps, cos, cos, torch.tensor([2, 2, 2]), s, {"epoch": epoch})


def test_wandb_payload_overlays_every_epoch_and_logs_visible_maps():
    import wandb

    cb = SensitivityCallback(layers=("conv", "softmax"), max_shift=2)
    for epoch in range(3):
        res = _result(epoch)
        cb.curves.append({"epoch": epoch} | {f"{la}/cosine": res.radial_mean(la, "cosine").tolist()
                                             for la in ("conv", "softmax")} | {"accuracy": [1.0, 0.5, 0.2]})  # fmt: skip
    config = {"run_name": "mnist-k5", "dataset": {"name": "mnist"}, "padding": "same", "kernel": 5, "seed": 1}
    payload = cb.wandb_payload(res, config, "epoch 2, 6 val images")
    chart = payload["sens_radial/conv/cosine"]
    assert sorted({row[1] for row in chart.table.data}) == ["epoch 0", "epoch 1", "epoch 2"]
    table = payload["radial_val"]  # long format: a W&B user groups and filters it in the UI
    assert table.columns == list(RADIAL_COLUMNS)
    rows = [dict(zip(table.columns, row, strict=True)) for row in table.data]
    assert len(rows) == sum(len(v) for c in cb.curves for k, v in c.items() if k != "epoch")  # one per radius
    conv = [r for r in rows if r["epoch"] == 1 and r["layer"] == "conv" and r["metric"] == "cosine"]
    assert [r["value"] for r in conv] == pytest.approx(cb.curves[1]["conv/cosine"], abs=1e-6)
    assert {(r["dataset"], r["kernel"], r["seed"], r["split"]) for r in rows} == {("mnist", 5, 1, "val")}
    assert {r["layer"] for r in rows if r["metric"] == "accuracy"} == {"output"}
    image = payload["sens_maps/softmax"]
    assert isinstance(image, wandb.Image)
    with Image.open(image._path) as png:  # the PNG file wandb will upload
        pixels = np.asarray(png)
    assert pixels.ndim == 3 and pixels.max() > pixels.min()  # not the all-black image of a float map
    assert "colour 0 to 1" in image._caption  # the fixed scale of a non-negative measuring point
    state = cb.state_dict()
    fresh = SensitivityCallback()
    fresh.load_state_dict(state)
    assert [c["epoch"] for c in fresh.curves] == [0, 1, 2]  # a resumed run keeps the overlay


def test_sensitivity_callback_writes_nothing_for_a_network_with_non_finite_outputs(tmp_path):
    from types import SimpleNamespace

    import pytest
    from torch import nn

    from src.data.datamodule import TensorBatches

    class Overflowing(nn.Module):  # finite weights, infinite activations: what lr=1e30 produces
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)) * float("inf"))

    val = TensorBatches(torch.rand(6, 1, 8, 8), torch.arange(6) % 3)
    dm = SimpleNamespace(val_set=val, num_classes=3, fill_value=[0.0])
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, global_step=10, datamodule=dm,
                              is_global_zero=True, default_root_dir=str(tmp_path), loggers=[])  # fmt: skip
    cb = SensitivityCallback(images_per_class=2, layers=("conv", "softmax"), max_shift=1)
    with pytest.raises(FloatingPointError, match="non-finite layer outputs at epoch 0"):
        cb.on_validation_epoch_end(trainer, SimpleNamespace(net=Overflowing()))
    assert not (tmp_path / "sensitivity_epochs").exists()


def test_stop_at_train_accuracy_stops_at_the_exact_epoch():
    from types import SimpleNamespace

    from src.callbacks import StopAtTrainAccuracy

    cb, stops = StopAtTrainAccuracy(threshold=0.99), []
    for acc in (0.90, 0.985, 0.99, 0.995):
        trainer = SimpleNamespace(callback_metrics={"train/acc": torch.tensor(acc)}, should_stop=False)
        cb.on_train_epoch_end(trainer, None)
        stops.append(trainer.should_stop)
    assert stops == [False, False, True, True]  # the threshold itself counts as reached


def test_epoch_history_selects_the_first_best_eligible_epoch():
    from types import SimpleNamespace

    import pytest

    from src.callbacks import EpochHistory

    h = EpochHistory()
    scripted = [(0.93, 0.99, -1.0), (0.99, 0.96, 0.96), (0.995, 0.98, 0.98), (0.997, 0.98, 0.98)]
    for epoch, (train_acc, val, eligible) in enumerate(scripted):
        m = {"train/loss": torch.tensor(0.1), "train/acc": torch.tensor(train_acc), "val/acc": torch.tensor(val),
             "val/acc_eligible": torch.tensor(eligible)}  # fmt: skip
        h.on_train_epoch_end(SimpleNamespace(callback_metrics=m, current_epoch=epoch), None)
    assert h.selected()["epoch"] == 2  # tie 0.98 at epochs 2 and 3: the first, as ModelCheckpoint keeps it
    assert h.selected("val/acc")["epoch"] == 0  # unfiltered, epoch 0 (below the criterion) would have won
    bad = {"train/loss": torch.tensor(float("nan"))}
    with pytest.raises(FloatingPointError, match="diverged"):
        h.on_train_epoch_end(SimpleNamespace(callback_metrics=bad, current_epoch=4), None)


def test_cosine_maps_share_one_colour_scale_per_measuring_point():
    from src.wandb_log import cosine_range

    assert cosine_range("fc") == (-1.0, 1.0)  # logits point anywhere
    assert cosine_range("conv") == cosine_range("softmax") == (0.0, 1.0)  # after a ReLU or a softmax: >= 0
    low, high = _result(0), _result(1)
    low.maps["conv"]["cosine"] = low.maps["conv"]["cosine"] * 0.5  # a darker map must look darker, not rescaled
    from src.wandb_log import map_images

    def mean_pixel(res):
        with Image.open(map_images(res, "m", "x")["m/conv"]._path) as png:
            return np.asarray(png, dtype=float).mean()

    assert mean_pixel(low) < mean_pixel(high)


def test_wandb_sync_passes_every_folder_of_a_run_to_one_command_oldest_first(tmp_path):
    from src.wandb_log import sync

    for name in ("run_a/wandb/offline-run-20261202_101500-abc", "run_a/wandb/offline-run-20261202_090000-abc",
                 "run_b/wandb/offline-run-20261202_095000-xyz"):  # fmt: skip
        (tmp_path / name).mkdir(parents=True)
    commands = sync(tmp_path, dry_run=True)
    by_run = {cmd[-1].rsplit("-", 1)[-1]: [c.rsplit("/", 1)[-1] for c in cmd[2:]] for cmd in commands}
    assert by_run == {"abc": ["offline-run-20261202_090000-abc", "offline-run-20261202_101500-abc"],
                      "xyz": ["offline-run-20261202_095000-xyz"]}  # fmt: skip
    assert all(cmd[1] == "sync" for cmd in commands)


def test_each_evaluation_is_its_own_wandb_run_pointing_to_its_training(tmp_path, monkeypatch):
    """One W&B run has one job type: an evaluation never resumes the training's run, and a second evaluation does
    not overwrite the first one's summary."""
    import json

    from src.evaluate import log_to_wandb
    from src.runs import RunRecord
    from src.wandb_adapter import read_records
    from tests.conftest import wandb_final_summary as final_summary

    monkeypatch.setenv("WANDB_SILENT", "true")
    config = {"kernel": 3, "run_name": "synthetic-k3", "logger": {"wandb": {"group": "train/sweep", "offline": True}}}
    summary = RunRecord(wandb_id="trained1", selected_epoch=1, config=config, run_dir=str(tmp_path))
    ids = [log_to_wandb(summary, _result(1)) for _ in range(2)]
    assert len(set(ids)) == 2 and "trained1" not in ids
    for eval_id in ids:
        (folder,) = (tmp_path / "wandb").glob(f"offline-run-*-{eval_id}")
        records = [r for f in folder.glob("*.wandb") for r in read_records(f)]
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert (run.job_type, run.run_group, run.display_name) == ("evaluate", "train/sweep", "synthetic-k3-test")
        evaluation = next(json.loads(i.value_json) for i in run.config.update if i.key == "evaluation")
        assert evaluation["trained_run"] == "trained1" and evaluation["model_artifact"] == "model-trained1:selected"
        assert final_summary(folder)["test_images"] == 6
