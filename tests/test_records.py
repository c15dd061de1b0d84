"""Committed records (src/records.py): a sweep cut halfway and continued on an empty outputs/ trains only what has no
record; a figure is drawn again from the records alone with the same numbers; a record with other settings is
refused like a foreign run folder. On the synthetic digits, with the paper preset made tiny."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from src.conf import CONF_DIR
from src.figures.training_level import first_epoch_at, training_level
from src.records import merged_summaries
from tests.conftest import compose_config

TINY_PAPER = [
    "figure=2", "preset=paper", "preset.kernels=[3,5]", "preset.lrs=[0.001,0.002]", "preset.extend_edges=false",
    "preset.images_per_class=2", "preset.train_overrides=['max_epochs=2','stop_train_accuracy=0.01']",
    "extra_overrides=['dataset=synthetic','max_shift=2','logger=csv','dataset.val_size=20','batch_size=64']",
    "evaluate_overrides=['max_shift=2']", "provenance=false", "preset.compare_criterion=0.005",
]  # fmt: skip


def reproduce(tmp_path: Path, *overrides: str) -> dict:
    """src.reproduce in this process (its training jobs are subprocesses); the figure JSON it wrote."""
    from src.reproduce import main

    cfg = compose_config("reproduce", [*TINY_PAPER, f"records_dir={tmp_path / 'records'}", *overrides], tmp_path)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        main.__wrapped__(cfg)
    return json.loads((Path(cfg.figures_dir) / "fig2_paper.json").read_text())


def trained_jobs(outputs: Path) -> set[tuple[int, float, int]]:
    """(kernel, lr, seed) of the jobs that trained in this outputs folder (a recorded job is skipped before any
    checkpoint is written)."""
    runs = {p.parent.parent for p in outputs.glob("exp1_mnist/paper/*/checkpoints/*.ckpt")}
    configs = [json.loads((run / "summary.json").read_text())["config"] for run in runs]
    return {(c["kernel"], c["lr"], c["seed"]) for c in configs}


def comparable(numbers: dict) -> dict:
    """A figure's numbers without where its runs lay (local run folder or record)."""
    out = {k: v for k, v in numbers.items() if k not in ("provenance", "excluded_runs")}
    out["accuracy"] = {k: {f: v for f, v in row.items() if f != "run_dirs"} for k, row in numbers["accuracy"].items()}
    return out


@pytest.mark.slow
def test_a_sweep_cut_halfway_continues_on_an_empty_outputs_from_its_records(tmp_path):
    records = tmp_path / "records" / "exp1_mnist" / "paper"
    # The first sitting: the planning seed at every rate, then its machine is gone (only records/ is committed).
    first = reproduce(
        tmp_path, "preset.seeds=[0]", f"outputs={tmp_path / 'sitting1'}", f"figures_dir={tmp_path / 'f1'}"
    )
    assert len(trained_jobs(tmp_path / "sitting1")) == 4  # 2 kernels x 2 rates, seed 0
    assert len(list(records.glob("*/summary.json"))) == 4
    selected = {k: row["lr"] for k, row in first["accuracy"].items()}
    assert {k: s["selected_on_seeds"] for k, s in first["selection"].items()} == {"3": [0], "5": [0]}
    assert all(len(list(records.glob(f"*kernel={k},lr={lr},*/sensitivity.pt"))) == 1 for k, lr in selected.items())

    # The next sitting, on a new machine: seed 1 is trained at each kernel's selected rate only, nothing of seed 0.
    second = reproduce(
        tmp_path, "preset.seeds=[0,1]", f"outputs={tmp_path / 'sitting2'}", f"figures_dir={tmp_path / 'f2'}"
    )
    assert trained_jobs(tmp_path / "sitting2") == {(int(k), lr, 1) for k, lr in selected.items()}
    assert second["accuracy"]["3"]["seeds"] == [0, 1] and second["accuracy"]["5"]["seeds"] == [0, 1]
    assert len(list(records.glob("*/summary.json"))) == 6 and len(list(records.glob("*/sensitivity.pt"))) == 4
    assert all(
        s["record"]["trained_at"]["commit"] for s in (json.loads(p.read_text()) for p in records.glob("*/summary.json"))
    )

    # A fresh clone: an empty outputs folder and an empty figures folder; the records alone give the same numbers.
    third = reproduce(
        tmp_path, "preset.seeds=[0,1]", "train=false", f"outputs={tmp_path / 'empty'}", f"figures_dir={tmp_path / 'f3'}"
    )
    assert not (tmp_path / "empty").exists() or not trained_jobs(tmp_path / "empty")
    assert comparable(third) == comparable(second)
    assert [r["seed"] for r in third["training_level"]["networks"]["k=3"]["runs"]] == [0, 1]
    # the report's tables of this protocol read it
    from src.report import claims_versus_table, rates_table, selection_table, training_level_table

    # seeds 0 and 1 at each kernel's selected rate
    assert selection_table(third).count("(selected)") == 2 * 2
    assert training_level_table(third).count("\n") == 2 + 2 * 3  # header, rule, 2 kernels x 3 points
    rates = rates_table(third).splitlines()[2:]  # every trained rate of each kernel, its epoch-end cosine per point
    assert len(rates) == 2 * 2 and all(row.count("|") == 8 and "| – |" not in row for row in rates)
    versus = claims_versus_table(third, first)  # 4 claims at the softmax, 3 of them also at the logits
    assert versus.count("| same |") + versus.count("| **changed** |") == 7
    assert (tmp_path / "f3" / "fig2_paper.png").stat().st_size > 1000

    # A record whose settings differ from the preset's is refused exactly like a foreign run folder.
    tampered = next(records.glob("*kernel=3,*,seed=1,*/summary.json"))
    summary = json.loads(tampered.read_text())
    summary["config"]["padding"] = "none"
    tampered.write_text(json.dumps(summary))
    fourth = reproduce(
        tmp_path, "preset.seeds=[0,1]", "train=false", f"outputs={tmp_path / 'empty'}", f"figures_dir={tmp_path / 'f4'}"
    )
    assert fourth["accuracy"]["3"]["seeds"] == [0]
    assert any("settings differ from preset paper's (padding: 'none' -> 'same')" in r["reason"]
               for r in fourth["excluded_runs"])  # fmt: skip


def _summary(run: Path, status: str, **extra) -> None:
    run.mkdir(parents=True)
    body = {"status": status, "config": {"kernel": 3, "lr": 0.001, "seed": 0}} | extra
    (run / "summary.json").write_text(json.dumps(body))


def test_a_completed_local_run_wins_over_its_record_and_a_record_over_an_unfinished_run(tmp_path):
    done = {
        "epochs": 1,
        "selected_epoch": 0,
        "val_acc": 0.9,
        "test_acc": 0.9,
        "checkpoint": "c",
        "meets_criterion": True,
    }
    _summary(tmp_path / "out" / "a", "completed", **done)
    _summary(tmp_path / "rec" / "a", "completed", **done, record={"trained_at": {"commit": "x"}})
    _summary(tmp_path / "out" / "b", "running")
    _summary(tmp_path / "rec" / "b", "completed", **done, record={"trained_at": {"commit": "x"}})
    _summary(tmp_path / "rec" / "c", "completed", **done)  # no "record" entry: not a record
    merged = merged_summaries(tmp_path / "out", tmp_path / "rec")
    assert [Path(s["run_dir"]).relative_to(tmp_path).as_posix() for s in merged] == ["out/a", "rec/b"]


def test_training_level_pairs_the_criterion_epoch_with_the_selected_epoch_within_each_run(tmp_path):
    runs = []
    for seed, (low, high) in enumerate([(0.80, 0.84), (0.70, 0.76)]):
        run = tmp_path / f"s{seed}"
        run.mkdir()
        profile = {"0": {"conv/cosine": [1.0, 0.5, 0.5], "softmax/cosine": [1.0, low, low], "images": 30},
                   "2": {"conv/cosine": [1.0, 0.5, 0.5], "softmax/cosine": [1.0, high, high], "images": 30}}  # fmt: skip
        (run / "epoch_profiles.json").write_text(json.dumps(profile))
        history = [{"epoch": 0, "train/acc": 0.996}, {"epoch": 1, "train/acc": 0.998}, {"epoch": 2, "train/acc": 0.999}]
        runs.append({"run_dir": str(run), "history": history, "selected_epoch": 2,
                     "config": {"seed": seed, "max_shift": 2}})  # fmt: skip
    assert first_epoch_at(runs[0]["history"], 0.995) == 0 and first_epoch_at(runs[0]["history"], 0.9995) is None
    level = training_level({5: runs}, 2, 0.995)["networks"]["k=5"]
    assert [r["epoch_at_criterion"] for r in level["runs"]] == [0, 0]
    assert level["softmax"]["values"] == pytest.approx([0.04, 0.06])  # selected minus at-criterion, per run
    assert level["conv"]["mean"] == pytest.approx(0.0)
    assert training_level({5: runs}, 2, None) == {}
