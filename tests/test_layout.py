"""The architecture, pinned: the library takes complete settings and reads no conf/, entry points sit on top, and
other libraries' internals are reached only through their one adapter module each."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ("src/sensitivity", "src/models", "src/data")
ENTRY_POINTS = {"src.train", "src.evaluate", "src.reproduce", "src.compare", "src.report", "src.bench",
                "src.records", "src.sweep_report", "src.cli", "src.conf"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("package", LIBRARY)
def test_the_library_imports_no_entry_point_and_reads_no_config_file(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        reached = _imports(path) & ENTRY_POINTS
        assert not reached, f"{path.relative_to(ROOT)} imports {sorted(reached)}"
        text = path.read_text()
        assert "OmegaConf.load" not in text and "import yaml" not in text, f"{path.relative_to(ROOT)} reads YAML"


def test_figures_load_networks_from_the_run_record_not_an_entry_point():
    for path in sorted((ROOT / "src" / "figures").rglob("*.py")):
        reached = _imports(path) & {"src.train", "src.evaluate", "src.reproduce", "src.compare"}
        assert not reached, f"{path.relative_to(ROOT)} imports {sorted(reached)}"


# other library's internal -> the one module allowed to use it
ADAPTERS = {
    "hydra._internal": "src/hydra_adapter.py",
    "_rewrite_with_new_header": "src/lightning_adapter.py",
    "_check_log_dir_exists": "src/lightning_adapter.py",
    "map_array =": "hydra_plugins/translation_invariance/submitit_adapter.py",
    "wandb_internal_pb2": "src/wandb_adapter.py",
}


@pytest.mark.parametrize("internal", ADAPTERS)
def test_another_librarys_internals_are_used_in_its_adapter_only(internal):
    users = {str(p.relative_to(ROOT)) for folder in ("src", "hydra_plugins") for p in (ROOT / folder).rglob("*.py")
             if internal in p.read_text()}  # fmt: skip
    assert users <= {ADAPTERS[internal]}, f"{internal} is used outside {ADAPTERS[internal]}: {sorted(users)}"


def test_lightning_still_calls_the_two_methods_its_adapter_overrides(tmp_path):
    """ExperimentWriter.__init__ calls _check_log_dir_exists (which deletes an old metrics.csv), and a new column
    goes through _rewrite_with_new_header: what src/lightning_adapter.py overrides. Checked by behaviour."""
    from src.lightning_adapter import KeepingExperimentWriter

    calls = []

    class Spy(KeepingExperimentWriter):
        def _check_log_dir_exists(self):
            calls.append("check")
            super()._check_log_dir_exists()

        def _rewrite_with_new_header(self, fieldnames):
            calls.append("rewrite")
            super()._rewrite_with_new_header(fieldnames)

    writer = Spy(log_dir=str(tmp_path))
    writer.log_metrics({"a": 1.0}, step=0)
    writer.save()
    writer.log_metrics({"a": 2.0, "b": 3.0}, step=1)
    writer.save()
    assert calls == ["check", "rewrite"]
    header, *rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert set(header.split(",")) == {"a", "b", "step"} and len(rows) == 2  # the first row kept


def test_the_submitit_plugin_still_waits_on_map_array_jobs_results():
    """hydra-submitit-launcher's launch() submits with executor.map_array and then calls each job's results(): what
    hydra_plugins/.../submitit_adapter.py wraps for one launch (and restores)."""
    import inspect

    import submitit
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

    from hydra_plugins.translation_invariance.submitit_adapter import tolerant_results

    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert "executor.map_array(" in source and ".results()" in source
    original = submitit.AutoExecutor.map_array
    with tolerant_results():
        assert submitit.AutoExecutor.map_array is not original
    assert submitit.AutoExecutor.map_array is original


def test_light_modules_are_imported_at_the_top():
    """The rule for function-local imports (docs/ARCHITECTURE.md, Conventions): only heavy libraries, to keep an
    entry point's one-line errors fast, or a cycle. The standard library and light modules never."""
    import sys

    light = {"omegaconf", "src.errors", "src.files", "src.checks"}
    found = []
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        for func in ast.walk(ast.parse(path.read_text())):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(func):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                        if module.split(".")[0] in sys.stdlib_module_names or module in light:
                            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {module}")
    assert not found, found


def test_a_run_summary_is_read_by_its_record_type_only():
    """One type of run (src.runs.RunRecord): no other module opens summary.json, so "completed", "finished" and the
    selected checkpoint are decided in one place and old runs are completed on read for everyone."""
    readers = []
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        if path == ROOT / "src" / "runs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "read_json", "load", "loads", "read_text", "open"):  # fmt: skip
                text = ast.unparse(node)
                if "SUMMARY" in text or "summary.json" in text:
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno} {text}")
    assert not readers, readers


def test_fmt_skip_keeps_only_tables():
    """`# fmt: skip` is allowed on a table (a list, tuple or dict literal assigned to a name): everywhere else the
    code is in the formatter's layout."""
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        text = path.read_text()
        marked = {i for i, line in enumerate(text.splitlines(), 1) if line.endswith("# fmt: skip")}
        tables = {
            node.end_lineno
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.List | ast.Tuple | ast.Dict)
        }
        assert marked <= tables, f"{path.relative_to(ROOT)}:{sorted(marked - tables)}: fmt: skip outside a table"
