"""Every figure kind of `src.figures.KINDS`, numbers and drawing, on one tiny trained network (synthetic digits):
a new kind is tested by adding its table entry, nothing here. About 15 s (one 1-epoch training, two evaluations)."""

import json

import pytest
from omegaconf import OmegaConf

from src.figures import FIGURES, KINDS, FigureInputs, check_numbers, draw
from src.runs import eligible_and_excluded, sweep_summaries
from src.sensitivity import SensitivityResult
from src.train import train
from tests.conftest import compose_config

pytestmark = pytest.mark.slow  # one training and two evaluations: ~25 s quiet
MAX_SHIFT = 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run dict as figure selection gives it, {"paper": result, "all": result at every stage})."""
    from src.evaluate import evaluate_run
    from src.figures import depth
    from src.reproduce import evaluate_config

    root = tmp_path_factory.mktemp("kinds")
    run_dir = root / "sweep" / "kernel=5"
    train(compose_config("train", ["dataset=synthetic", "logger=csv", "max_epochs=2", f"max_shift={MAX_SHIFT}",
                                   "stop_train_accuracy=0.01", "trainer.enable_progress_bar=false"], run_dir))  # fmt: skip
    base = evaluate_config(compose_config("reproduce", ["preset=quick"], root))
    results = {}
    for maps, extra in (("paper", {}), ("all", {"layers": ["all"], "output": depth.OUTPUT})):
        ecfg = OmegaConf.merge(base, {"images_per_class": 2, "max_shift": MAX_SHIFT, "paths": {"data_dir": None}},
                               extra)  # fmt: skip
        evaluate_run(run_dir, ecfg)
        results[maps] = SensitivityResult.load(run_dir / ecfg.output)
    (run,), excluded = eligible_and_excluded(sweep_summaries(root / "sweep"))
    assert not excluded
    return run, results


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_computes_json_numbers_and_draws_them(trained, tmp_path, kind):
    run, results = trained
    figure = next(name for name, spec in FIGURES.items() if spec.kind == kind)  # the first figure of this kind
    spec, entry = FIGURES[figure], KINDS[kind]
    maps = {2: [results[entry.maps]]} if entry.maps else {}
    inputs = FigureInputs({2: [run, run]} if entry.maps else {5: [run]}, {2: maps[2] * 2} if maps else {},
                          "softmax", MAX_SHIFT, 2, spec.claims)  # fmt: skip
    numbers = {"figure": figure, "name": f"kind_{kind}", "max_shift": MAX_SHIFT, "provenance": "test"}
    numbers |= json.loads(json.dumps(entry.numbers(inputs)))  # plain JSON, as figures/<name>.json stores it
    check_numbers(numbers, tmp_path / "x.json", figure)
    written = draw(numbers, tmp_path)
    assert written and all(p.stat().st_size > 1000 for p in written)
    assert {p.suffix for p in written} == {".png", ".pdf"}
    other = draw(numbers | {"name": f"other_{kind}"}, tmp_path)  # e.g. fashion_extras beside extras
    assert not set(other) & set(written)  # two figures of one kind never overwrite each other's files
