"""The report's generated tables: up to date with the committed JSON, and right on hand-made numbers."""

from pathlib import Path

import pytest

from src.figures import FIGURES
from src.figures.claims import Claim, claims_for
from src.report import REPORT, TABLES, main, radii_ranges, render

ROOT = Path(__file__).resolve().parents[1]


def test_committed_report_matches_the_figure_json():
    text = (ROOT / REPORT).read_text()
    new, changed = render(text, ROOT / "figures")
    assert changed == [], f"docs/REPRODUCTION.md tables out of date: {changed}; run `make report`"
    drawn = [
        n for n, (sources, _) in TABLES.items() if all((ROOT / "figures" / f"{s}.json").is_file() for s in sources)
    ]
    assert all(f"<!-- table:{name} -->" in text for name in drawn)  # every table whose figures exist is placed


def test_radii_ranges():
    assert radii_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8" and radii_ranges([]) == "none"


def test_tables_regenerate_from_numbers_and_check_fails_when_stale(tmp_path):
    flat = [[1.0, 0.9, 0.8], [1.0, 0.91, 0.79], [1.0, 0.9, 0.81]]
    steep = [[1.0, 0.7, 0.5], [1.0, 0.72, 0.49], [1.0, 0.69, 0.52]]
    near_flat = [[1.0, 0.905, 0.8], [1.0, 0.905, 0.79], [1.0, 0.9, 0.815]]  # within the seeds' spread of flat
    radial = {layer: {"cosine": {"k=3": flat, "k=4": near_flat, "k=5": steep}} for layer in ("conv", "softmax")}
    fig = {"figure": "5", "experiment": "exp2_mnist", "output_layer": "softmax", "max_shift": 2, "radial": radial}
    fig |= claims_for(FIGURES["5"].claims, radial, "softmax", 2)
    (tmp_path / "fig5.json").write_text(__import__("json").dumps(fig))
    report = tmp_path / "report.md"
    report.write_text("prose\n<!-- table:fig5_claims -->\nold\n<!-- /table:fig5_claims -->\nmore prose\n")
    assert main(["--report", str(report), "--figures-dir", str(tmp_path), "--check"]) == 1
    assert main(["--report", str(report), "--figures-dir", str(tmp_path)]) == 0
    text = report.read_text()
    assert text.startswith("prose\n") and text.endswith("more prose\n") and "\nold\n" not in text
    assert "k=4 = k=3" in text and "TOST ±0.02" in text and "**equivalent**" in text  # near-identical networks
    row = next(line for line in text.splitlines() if "k=5 > k=4" in line)
    assert "does not hold" in row and "never at this mean" in row  # k=5 is steeper: less invariant, not more
    assert main(["--report", str(report), "--figures-dir", str(tmp_path), "--check"]) == 0


def test_a_report_that_cannot_be_written_is_one_line_and_left_as_it_was(tmp_path, capsys, monkeypatch):
    """A read-only checkout (root writes anywhere, so the write is refused by hand): one line, exit 2."""
    import src.report

    def refuse(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(src.report, "atomic_write", refuse)
    report = tmp_path / "r.md"
    report.write_text("<!-- table:fig2_radial -->\nold\n<!-- /table:fig2_radial -->\n")
    fig = {"radial": {"conv": {"cosine": {"k=3": [[1.0, 0.9, 0.8]] * 3}}}, "max_shift": 2}
    (tmp_path / "fig2.json").write_text(__import__("json").dumps(fig))
    assert main(["--report", str(report), "--figures-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("cannot be written (Permission denied): nothing changed") and len(err.splitlines()) == 1
    assert "\nold\n" in report.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "fig2.json, which is not there"),
        ("{}", "lacks what the table needs"),
        ('{"radial": null}', "lacks what the table needs"),
        ("[1", "corrupt or truncated"),
        ('{"radial": {"conv": {"cosine": {"k=3": [[1.0, null]]}}}}', "lacks what the table needs"),
    ],
    ids=["missing", "empty", "radial_null", "truncated", "null_value"],
)
def test_a_missing_or_damaged_figure_json_is_one_line_and_the_report_is_untouched(tmp_path, capsys, content, message):
    report = tmp_path / "r.md"
    before = "<!-- table:fig2_radial -->\nold\n<!-- /table:fig2_radial -->\n"
    report.write_text(before)
    if content is not None:
        (tmp_path / "fig2.json").write_text(content)
    assert main(["--report", str(report), "--figures-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert report.read_text() == before


def test_claim_margin_is_part_of_the_claim():
    assert Claim("x", ("conv", "a"), ("conv", "b"), 0).margin == 0.02


def test_accuracy_rows_name_the_criterion_each_figure_was_trained_to():
    from src.report import accuracy_table

    row = {"seeds": [0, 1], "epochs": [20, 22], "train_acc": {"mean": 0.99, "std": 0.001}}
    f4 = {"experiment": "exp1_fashion", "accuracy": {"5": row},
          "preset": {"train_overrides": ["max_epochs=60", "stop_train_accuracy=0.99"]}}  # fmt: skip
    f6 = {"experiment": "exp2_fashion", "accuracy": {"5": row},
          "preset": {"train_overrides": ["stop_train_accuracy=0.98"]}}  # fmt: skip
    lines = accuracy_table(
        {"fashion4": f4, "fashion6": f6, "default": {"experiment": "exp1_mnist", "accuracy": {"3": row}}}
    ).splitlines()
    assert "| criterion |" in lines[0]
    assert "| 99 % |" in lines[2] and "| 98 % |" in lines[3] and "| 99 % |" in lines[4]  # conf/train.yaml: 0.99


def test_a_verdict_changes_only_when_its_kind_does():
    """ "unresolved at n=3" against "unresolved at n=10" is the same verdict; "holds" against it is a change."""
    from src.report import _verdict_kind, claims_versus_table

    def fig(verdict: str, n: int) -> dict:
        d = {"mean": 0.01, "low": -0.01, "high": 0.03, "n": n}
        return {"claims": [{"claim": "k=5 > k=3", "a": ["output", "k=5"], "b": ["output", "k=3"], "difference": d,
                            "verdict": verdict, "verdict_holm": verdict}]}  # fmt: skip

    assert _verdict_kind("unresolved at n=3") == _verdict_kind("unresolved at n=10") == "unresolved"
    assert "| same |" in claims_versus_table(fig("unresolved at n=3", 3), fig("unresolved at n=10", 10))
    assert "**changed**" in claims_versus_table(fig("holds", 3), fig("unresolved at n=10", 10))
