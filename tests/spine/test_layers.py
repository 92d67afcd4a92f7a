"""The package graph is acyclic: every import, at the top of a module or inside a function, goes
downward in this order (a package may import those before it, never those after it):

    core -> config -> launch -> models -> eval -> {curate, train, report} -> stages -> pipeline
         -> monitor -> ops -> demo -> cli

- ``launch`` holds everything about a run once it is planned: the backends (local, SLURM), the task
  every job runs, the scheduler queries, the status of a run's tasks, their logs, and the one
  ``afterok`` rule of every chain. It is handed a :class:`StageRef` and never imports a stage.
- The domain packages come next, in the order they use each other: models, then eval (curation
  grades attempts and reads benchmarks with it, reports read its records), then curate, train and
  report, which do not import each other.
- ``stages`` wraps each domain in the Stage contract (and resolves and submits specs); ``pipeline``
  chains stages (its stage lives there, named to the stage registry by string like every stage);
  ``monitor`` (the dashboards) shows runs of any stage, pipelines included; ``ops`` acts on them;
  ``demo`` runs a pipeline end to end; ``cli`` is the edge.

Imports inside functions count too. Only heavy third-party libraries (torch, vLLM, transformers,
datasets, deepspeed, matplotlib...) are imported inside functions, for start-up time; imports of
s1slurm itself are at the top of modules, except where the comment on the line says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from s1slurm.core.errors import ConfigError
from s1slurm.launch.task import StageRef
from s1slurm.stages import get_stage, stage_names

PACKAGE = Path(__file__).resolve().parents[2] / "s1slurm"
ORDER = [
    ("core",),
    ("config",),
    ("launch",),
    ("models",),
    ("eval",),
    ("curate", "train", "report"),
    ("stages",),
    ("pipeline",),
    ("monitor",),
    ("ops",),
    ("demo",),
    ("cli",),
]
LAYER = {package: rank for rank, group in enumerate(ORDER) for package in group}


def s1slurm_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported s1slurm module, inside a function) for every import of ``path``."""
    tree = ast.parse(path.read_text())
    inside: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [
            (node.lineno, n, id(node) in inside) for n in names if n == "s1slurm" or n.startswith("s1slurm.")
        ]
    return out


def package_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_layer():
    packages = {package_of(p) for p in modules()} - {None}
    assert packages <= set(LAYER), sorted(packages - set(LAYER))


def test_no_import_goes_upward_at_the_top_or_inside_functions():
    upward = []
    for path in modules():
        here = package_of(path)
        if here is None:
            continue
        for line, name, in_function in s1slurm_imports(path):
            there = name.split(".")[1] if "." in name else None
            if there in LAYER and LAYER[there] > LAYER[here]:
                upward.append(
                    f"{path.relative_to(PACKAGE)}:{line} {here} -> {name}"
                    + (" (inside a function)" if in_function else "")
                )
    assert not upward, "\n".join(upward)


def test_packages_of_one_layer_do_not_import_each_other():
    across = []
    for path in modules():
        here = package_of(path)
        if here is None:
            continue
        for line, name, _ in s1slurm_imports(path):
            there = name.split(".")[1] if "." in name else None
            if there in LAYER and there != here and LAYER[there] == LAYER[here]:
                across.append(f"{path.relative_to(PACKAGE)}:{line} {here} -> {name}")
    assert not across, "\n".join(across)


def import_runs_start(tree: ast.AST) -> dict[int, int]:
    """Line of every import statement -> first line of the run of consecutive import statements
    it belongs to (in the same block)."""
    start: dict[int, int] = {}
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            first = None
            for stmt in block:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    first = first or stmt.lineno
                    start[stmt.lineno] = first
                else:
                    first = None
    return start


def says_why(source: list[str], line: int, run_start: int) -> bool:
    """A comment on the import's line, or on the line above the run of imports it belongs to."""
    return "#" in source[line - 1] or (run_start >= 2 and source[run_start - 2].strip().startswith("#"))


def test_s1slurm_imports_inside_functions_say_why():
    """An s1slurm import inside a function is there for start-up time and says so (on its line, or
    on a comment line above a run of such imports)."""
    silent = []
    for path in modules():
        source = path.read_text().splitlines()
        runs = import_runs_start(ast.parse(path.read_text()))
        for line, name, in_function in s1slurm_imports(path):
            if in_function and not says_why(source, line, runs[line]):
                silent.append(f"{path.relative_to(PACKAGE)}:{line} {name}")
    assert not silent, "\n".join(silent)


def test_every_stage_hands_the_launcher_a_reference_that_loads_it():
    for name in stage_names():
        stage = get_stage(name)
        ref = stage.ref()
        assert (ref.name, ref.requeueable) == (name, stage.requeueable)
        assert type(ref.load()) is type(stage)


def test_a_manifest_without_the_stage_reference_s1slurm_wrote_is_refused():
    for manifest in ({"stage": "train"}, {"stage": "eval", "stage_ref": {"name": "eval"}}):
        with pytest.raises(ConfigError, match="field 'stage_ref'"):
            StageRef.from_manifest(manifest)
