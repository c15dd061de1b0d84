"""The tables of docs/REPRODUCTION.md, written from figures/*.json: `python -m src.report` (or `make report`).

The report's prose is hand-written; each table stands between two markers and is generated:

    <!-- table:fig2_claims -->
    ...generated...
    <!-- /table:fig2_claims -->

`python -m src.report --check` exits 1 (naming the tables) when the committed document differs from what the JSON
gives; a test runs it, so a figure re-run without `make report` fails the suite.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from src.conf import CONF_DIR, dataset_entry, experiment_settings
from src.errors import UserError
from src.figures.claims import reported_claims
from src.figures.radial import final_map_sizes
from src.files import atomic_write, read_json
from src.sensitivity import stats
from src.sensitivity.maps import CONV, LOGITS, SOFTMAX
from src.sensitivity.metrics import PAPER_METRIC

REPORT = Path("docs/REPRODUCTION.md")
FIGURES_DIR = Path("figures")
RADII = [1, 2, 3, 4, 6, 8, 10]  # the radii the radial tables show (pixels)
MARKER = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)
# The paper's accuracies (its Tables 1-4, minimum over each table's networks), %: train / val / test.
PAPER_ACCURACY = {"exp1_mnist": "100 / 99.16 / 99.19", "exp2_mnist": "99.99 / 99.18 / 99.30"}


def point_label(point: str) -> str:
    """A measuring point's name in a table; the logits say what they are (the paper never reads them)."""
    return f"{point} (logits)" if point == LOGITS else point


def paper_network(experiment: str) -> str:
    """The paper's table of an experiment's networks ("Table 3"), from its dataset's family and its padding."""
    from src.models.cnn import PAPER_TABLE

    settings = experiment_settings(experiment)
    family = dataset_entry(settings["dataset"])[0]["family"]
    return f"Table {PAPER_TABLE[(family, settings['padding'])]}"


def num(x: float | None, digits: int = 3, signed: bool = False) -> str:
    """A number for a table: fixed digits, a real minus sign, '–' for missing."""
    if x is None:
        return "–"
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return text.replace("-", "−")


def mean_std(ci: dict, digits: int = 3, scale: float = 1.0) -> str:
    if ci.get("std") is None:
        return num(ci["mean"] * scale, digits)
    return f"{num(ci['mean'] * scale, digits)} ± {num(ci['std'] * scale, digits)}"


def radii_ranges(radii: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8'; [] -> 'none'."""
    if not radii:
        return "none"
    parts, start = [], radii[0]
    for prev, cur in zip(radii, radii[1:] + [None], strict=True):
        if cur != prev + 1:
            parts.append(f"{start}-{prev}" if prev > start else f"{start}")
            start = cur
    return ", ".join(parts)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def training_criterion(fig: dict) -> str:
    """The running training accuracy a figure's networks were trained to, e.g. "99.5 %": the preset's
    `stop_train_accuracy=` override, else conf/train.yaml's default."""
    overrides = [o for o in fig.get("preset", {}).get("train_overrides", []) if o.startswith("stop_train_accuracy=")]
    if overrides:
        value = float(overrides[-1].split("=", 1)[1])
    else:
        value = float(OmegaConf.load(CONF_DIR / "train.yaml").stop_train_accuracy)
    return f"{100 * value:g} %"


def accuracy_table(figs: dict[str, dict]) -> str:
    """Accuracies of the selected checkpoints of each figure's networks, mean ± std over seeds, %, with the training
    criterion they were selected by (tables mixing criteria say so per row)."""
    rows = []
    for fig in figs.values():
        exp, criterion = fig["experiment"], training_criterion(fig)
        sizes = final_map_sizes(exp, [int(k) for k in fig["accuracy"]])  # unpadded networks: their final map
        for i, (k, row) in enumerate(fig["accuracy"].items()):
            name = f"{paper_network(exp)}, k={k}" + (f" ({sizes[f'k={k}']} final map)" if sizes else "")
            keys = ("train_acc", "train_acc_full", "val_acc", "test_acc")
            cells = [mean_std(row[key], 2, 100) if key in row else "–" for key in keys]
            paper = PAPER_ACCURACY.get(exp, "") if i == 0 else ""
            rows.append([name, str(len(row["seeds"])), criterion, ", ".join(map(str, row["epochs"])), *cells, paper])
    header = ["network", "seeds", "criterion", "epochs", "train (running, selected epoch)", "train (full set, eval mode)", "val",
              "test", "paper (train / val / test, min over the table)"]  # fmt: skip
    return table(header, rows)


def radial_table(fig: dict, layers: list[str]) -> str:
    """Class-mean values of the figure's metric (the paper's cosine unless it says otherwise) at RADII, mean ± std over
    seeds, one row per measuring point and network."""
    rows = []
    metric = fig.get("metric", PAPER_METRIC)
    # a figure measured to a smaller shift shows the radii it has
    radii = [r for r in RADII if r <= fig.get("max_shift", max(RADII))]
    for layer in layers:
        if layer not in fig["radial"]:
            continue
        for label, seeds in fig["radial"][layer][metric].items():
            cells = [mean_std(stats.mean_ci([p[r] for p in seeds])) for r in radii]
            rows.append([point_label(layer), label.removeprefix("k="), str(len(seeds)), *cells])
    return table(["point", "k", "n", *[f"r={r}" for r in radii]], rows)


def verdict_cell(v: str) -> str:
    return f"**{v}**" if v in ("holds", "equivalent") else v


def claims_table(fig: dict) -> str:
    """Every claim of a radial figure at its output point and at the logits: the r = 1..S paired difference, its
    test, the raw and Holm-adjusted verdicts, the seeds an unresolved claim would need, and the per-radius reading."""
    rows = []
    for c, at in reported_claims(fig):
        if c.get("skipped"):
            rows.append([c["claim"], "", "", "", "", "", c["verdict"], "", "", "", "", ""])
            continue
        d = c["difference"]
        interval = f"[{num(d['low'], signed=True)}, {num(d['high'], signed=True)}]"
        test = c.get("test", "paired t") or "–"
        if c.get("direction") == 0 and "tost" in c:
            low, high = (num(x, signed=True) for x in c["tost"]["ci90"])
            test = f"TOST ±{c['margin']:g}, 90 % CI [{low}, {high}]"
        needed = c.get("seeds_needed", "–")
        needed = "never at this mean" if needed is None else str(needed)
        mean = f"{num(d['mean'], signed=True)} {interval}"
        raw = num(c.get("p")), verdict_cell(c["verdict"])
        holm = num(c.get("p_holm")), verdict_cell(c.get("verdict_holm", "–"))
        radii = [radii_ranges(c[k]) if c.get("direction") else "" for k in ("holds_at_radii", "fails_at_radii")]
        rows.append([c["claim"], point_label(at), str(d["n"]), mean, test, *raw, *holm, needed, *radii])
    header = ["claim", "at", "n", "difference r = 1-10, mean [95 % CI]", "test", "p", "verdict", "Holm p",
              "Holm verdict", "seeds for 80 % power", "holds at r", "reversed at r"]  # fmt: skip
    return table(header, rows)


def correlation_table(fig: dict) -> str:
    """Fig. 1: per-class Pearson r, mean ± std over seeds, and the class mean."""
    rows = []
    for name, seeds in fig["correlation"]["per_class"].items():
        classes = len(seeds[0])
        cells = [mean_std(stats.mean_ci([s[c] for s in seeds])) for c in range(classes)]
        claim = next(c for c in fig["claims"] if c["claim"].startswith(name))
        pair = name.replace("-distance", "−distance")
        rows.append([pair, str(len(seeds)), *cells, mean_std(claim["class_mean_r"]), verdict_cell(claim["verdict"])])
    classes = len(next(iter(fig["correlation"]["per_class"].values()))[0])
    return table(["pair", "n", *map(str, range(classes)), "class mean", "r ≥ 0.8"], rows)


def depth_table(fig: dict) -> str:
    """Mean cosine over r = 1..S at every stage, mean ± std over seeds."""
    first = next(iter(fig["depth"].values()))
    layers = first["layers"]
    rows = []
    for label, d in fig["depth"].items():
        cells = [mean_std(stats.mean_ci([seed[i] for seed in d["mean_cosine"]])) for i in range(len(layers))]
        rows.append([label, str(len(d["mean_cosine"])), *cells])
    return table(["network", "n", *[point_label(la) for la in layers]], rows)


def across_datasets_table(mnist: dict, fashion: dict) -> str:
    """The paper's explanation tested: is the same network more invariant at its output on the harder dataset?
    Fashion-MNIST minus MNIST class-mean cosine, Welch 95 % interval over seeds, per radius and over r = 1-10."""
    s = min(mnist["max_shift"], fashion["max_shift"])
    rows = []
    for layer in (SOFTMAX, LOGITS, CONV):
        if layer not in mnist["radial"] or layer not in fashion["radial"]:
            continue
        for label, f_seeds in fashion["radial"][layer][PAPER_METRIC].items():
            m_seeds = mnist["radial"][layer][PAPER_METRIC].get(label)
            if not m_seeds:
                continue
            cells = []
            for r in [*RADII[:5], None]:
                pick = (lambda p: sum(p[1 : s + 1]) / s) if r is None else (lambda p, r=r: p[r])
                d = stats.welch_difference([pick(p) for p in f_seeds], [pick(p) for p in m_seeds])
                cells.append(
                    f"{num(d['mean'], signed=True)} [{num(d['low'], signed=True)}, {num(d['high'], signed=True)}]"
                )
            rows.append([point_label(layer), label.removeprefix("k="), f"{len(f_seeds)} / {len(m_seeds)}", *cells])
    header = ["point", "k", "n (Fashion / MNIST)", *[f"r={r}" for r in RADII[:5]], "r = 1-10"]
    return table(header, rows)


def selection_table(fig: dict) -> str:
    """The learning-rate selection of a figure trained over several rates (the paper protocol): per kernel, rate and
    seed, the epochs run, whether the run met the criterion (else why it was excluded), its validation accuracy at
    the selected epoch and its training time; the selected rate marked, widening steps named."""
    rows = []
    for k, sel in fig.get("selection", {}).items():
        for lr, runs in sel["runs_by_lr"].items():
            rate = lr + (" (widened)" if float(lr) in sel["widened"] else "")
            rate = f"**{rate}** (selected)" if float(lr) == sel["selected_lr"] else rate
            for r in runs:
                met = "yes" if r["met_criterion"] else f"no: {r['excluded']}"
                minutes = "–" if r.get("wall_time_s") is None else f"{r['wall_time_s'] / 60:.0f}"
                val = "–" if r.get("val_acc") is None else f"{100 * r['val_acc']:.2f}"
                rows.append([k, rate, str(r["seed"]), str(r["epochs"]), met, val, minutes])
    header = ["k", "Adam rate", "seed", "epochs run", "met the criterion", "val % (selected epoch)", "minutes (1 core)"]
    return table(header, rows)


def rates_table(fig: dict) -> str:
    """The learning rate's own effect on invariance, per kernel: every trained rate's epoch-end cosine (radii 1..S
    mean, the training callback's validation subset, at each run's selected epoch) per measuring point, mean over the
    seeds trained at that rate. Read beside the claims: the protocol selects a different rate per kernel."""
    rows = []
    for k, sel in fig.get("selection", {}).items():
        for lr, runs in sel["runs_by_lr"].items():
            measured = [r["epoch_end_cosine"] for r in runs if r.get("epoch_end_cosine")]
            if not measured:
                continue
            rate = f"**{lr}** (selected)" if float(lr) == sel["selected_lr"] else lr
            met = "yes" if all(r["met_criterion"] for r in runs) else "no (excluded)"
            points = [p for p in (CONV, SOFTMAX, LOGITS) if all(p in m for m in measured)]
            cells = [num(sum(m[p] for m in measured) / len(measured)) for p in points]
            rows.append([k, rate, str(len(measured)), met, *cells])
    return table(["k", "Adam rate", "n", "met the criterion", *map(point_label, (CONV, SOFTMAX, LOGITS))], rows)


def _verdict_kind(verdict: str | None) -> str | None:
    """A verdict without its sample size: "unresolved at n=3" and "unresolved at n=10" are the same verdict."""
    return None if verdict is None else re.sub(r" at n=\d+$", "", verdict)


def claims_versus_table(fig: dict, reference: dict) -> str:
    """Each claim of `fig` beside the same claim of `reference` (another protocol's figure of the same question):
    r = 1..S paired difference with its 95 % interval and the Holm verdict of each, and whether the verdict changed."""
    rows = []
    theirs = {(c["claim"], at): c for c, at in reported_claims(reference)}
    for c, at in reported_claims(fig):
        if c.get("skipped"):
            continue
        other = theirs.get((c["claim"], at), {})
        cells, kinds = [], []
        for claim in (c, other):
            d = claim.get("difference")
            low, mean, high = (num(d[k], signed=True) for k in ("low", "mean", "high")) if d else (None,) * 3
            kinds.append(_verdict_kind(claim.get("verdict_holm", claim.get("verdict"))))
            cells += [f"{mean} [{low}, {high}]", f"{kinds[-1]} (n={d['n']})"] if d else ["–", "–"]
        rows.append([c["claim"], point_label(at), *cells, "**changed**" if kinds[0] != kinds[1] else "same"])
    header = ["claim", "at", "this protocol: difference [95 % CI]", "Holm verdict", "reference: difference [95 % CI]",
              "Holm verdict", "verdict"]  # fmt: skip
    return table(header, rows)


def training_level_table(fig: dict) -> str:
    """Does training on to the paper's criterion change the invariance? Per network and point, the epoch-end maps'
    r = 1..S mean cosine at the first epoch at the lower criterion and at the selected epoch, and their paired
    difference within each run (the training callback's validation subset)."""
    level = fig.get("training_level") or {}
    rows = []
    for label, entry in level.get("networks", {}).items():
        runs = entry["runs"]
        epochs = ", ".join(f"{r['epoch_at_criterion']}→{r['selected_epoch']}" for r in runs)
        for point in runs[0]["mean_cosine"] if runs else []:
            d = entry[point]
            low = [r["mean_cosine"][point]["at_criterion"] for r in runs]
            high = [r["mean_cosine"][point]["selected"] for r in runs]
            interval = "" if d["low"] is None else f" [{num(d['low'], signed=True)}, {num(d['high'], signed=True)}]"
            means = num(sum(low) / len(low)), num(sum(high) / len(high))
            difference = f"{num(d['mean'], signed=True)}{interval}"
            rows.append([label.removeprefix("k="), point_label(point), str(d["n"]), epochs, *means, difference])
    crit = f"{100 * level.get('criterion', 0):g} %"
    header = ["k", "point", "n", f"epochs ({crit} → selected)", f"mean cosine at {crit}", "at the selected epoch",
              "selected − at criterion [95 % CI]"]  # fmt: skip
    return table(header, rows)


# name -> (figure JSONs it reads, how it is drawn)
TABLES: dict[str, tuple[list[str], Callable[..., str]]] = {
    "accuracy": (["fig2", "fig5"], lambda f2, f5: accuracy_table({"fig2": f2, "fig5": f5})),
    "fig1": (["fig1"], correlation_table),
    "fig2_radial": (["fig2"], lambda f: radial_table(f, [CONV, SOFTMAX, LOGITS])),
    "fig2_claims": (["fig2"], claims_table),
    "fig5_radial": (["fig5"], lambda f: radial_table(f, [SOFTMAX, LOGITS])),
    "fig5_claims": (["fig5"], claims_table),
    "levers_claims": (["levers"], claims_table),
    "depth": (["depth"], depth_table),
    "fashion_accuracy": (["fashion4", "fashion6"], lambda f4, f6: accuracy_table({"fashion4": f4, "fashion6": f6})),
    "fashion4_claims": (["fashion4"], claims_table),
    "fashion6_claims": (["fashion6"], claims_table),
    "fashion_vs_mnist": (["fig2", "fashion4"], across_datasets_table),
    "fashion6_vs_mnist": (["fig5", "fashion6"], across_datasets_table),
    # the paper's own protocol (preset paper): rates, criterion 99.9 %, full test set
    "fig2_paper_selection": (["fig2_paper"], selection_table),
    "fig2_paper_accuracy": (["fig2_paper"], lambda f: accuracy_table({"fig2_paper": f})),
    "fig2_paper_claims": (["fig2_paper"], claims_table),
    "fig2_paper_vs_seeds10": (["fig2_paper", "fig2"], claims_versus_table),
    "fig2_paper_training_level": (["fig2_paper"], training_level_table),
    "fig2_paper_rates": (["fig2_paper"], rates_table),
    "fig5_paper_selection": (["fig5_paper"], selection_table),
    "fig5_paper_accuracy": (["fig5_paper"], lambda f: accuracy_table({"fig5_paper": f})),
    "fig5_paper_claims": (["fig5_paper"], claims_table),
    "fig5_paper_vs_seeds10": (["fig5_paper", "fig5"], claims_versus_table),
    "fig5_paper_training_level": (["fig5_paper"], training_level_table),
    "fig5_paper_rates": (["fig5_paper"], rates_table),
}


def render_table(name: str, figures_dir: Path) -> str:
    if name not in TABLES:
        raise UserError(f"{REPORT} names table:{name}, which is not one of {sorted(TABLES)}")
    sources, make = TABLES[name]
    missing = [s for s in sources if not (figures_dir / f"{s}.json").is_file()]
    if missing:  # never a placeholder in a finished-looking report
        raise UserError(
            f"table:{name} needs {', '.join(str(figures_dir / f'{s}.json') for s in missing)}, which is "
            "not there: run its figure first, or take the table out of the report"
        )
    figs = [read_json(figures_dir / f"{s}.json") for s in sources]
    try:
        return make(*figs)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, ZeroDivisionError) as e:
        files = ", ".join(str(figures_dir / f"{s}.json") for s in sources)
        raise UserError(
            f"table:{name}: {files} lacks what the table needs ({type(e).__name__}: {e}): rerun its figure"
        ) from None


def render(text: str, figures_dir: Path) -> tuple[str, list[str]]:
    """(the document with every marked table regenerated, the names of tables that changed)."""
    changed = []

    def fill(m: re.Match) -> str:
        body = render_table(m["name"], figures_dir)
        if body != m["body"]:
            changed.append(m["name"])
        return f"{m.group(1)}{body}{m.group(4)}"

    return MARKER.sub(fill, text), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.report", description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--figures-dir", type=Path, default=FIGURES_DIR)
    parser.add_argument("--check", action="store_true", help="exit 1 if the document's tables are out of date")
    args = parser.parse_args(argv)
    try:
        text = args.report.read_text()
        new, changed = render(text, args.figures_dir)
    except (OSError, UserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"{args.report}: tables out of date: {', '.join(changed)} (run `make report`)", file=sys.stderr)
            return 1
        print(f"{args.report}: {len(MARKER.findall(text))} generated tables up to date")
        return 0
    if changed:
        try:
            atomic_write(args.report, lambda p: p.write_text(new))
        except OSError as e:  # a read-only checkout or folder: one line, the document left as it was
            print(f"error: {args.report} cannot be written ({e.strerror}): nothing changed", file=sys.stderr)
            return 2
    print(f"{args.report}: {len(changed)} tables rewritten ({', '.join(changed) or 'none changed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
