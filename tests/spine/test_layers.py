"""The launcher sits below the stages: it is handed a StageRef and never imports a stage; runs and
tasks made before StageRef existed still find theirs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from s1slurm.core.errors import ConfigError
from s1slurm.launch.task import ShardTask, StageRef
from s1slurm.stages import get_stage, stage_names

PACKAGE = Path(__file__).resolve().parents[2] / "s1slurm"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("folder", ["launch", "core", "config"])
def test_the_lower_layers_never_import_the_stages(folder):
    for path in sorted((PACKAGE / folder).glob("*.py")):
        upward = {m for m in imported_modules(path) if m.startswith("s1slurm.stages") or m == "s1slurm.cli"}
        assert not upward, (path.name, upward)


def test_every_stage_hands_the_launcher_a_reference_that_loads_it():
    for name in stage_names():
        stage = get_stage(name)
        ref = stage.ref()
        assert (ref.name, ref.requeueable) == (name, stage.requeueable)
        assert type(ref.load()) is type(stage)


def test_runs_and_tasks_from_before_stage_refs_still_find_their_stage():
    for name in stage_names():
        assert StageRef.of_name(name) == get_stage(name).ref()
    assert StageRef.from_manifest({"stage": "train"}) == get_stage("train").ref()  # no stage_ref recorded
    old_task = ShardTask("eval", "/runs/eval-x", {"group": "aime24", "index": 0, "count": 1}, 0)  # as pickled then
    assert old_task._ref() == get_stage("eval").ref()
    with pytest.raises(ConfigError, match="field 'stage_ref'"):
        StageRef.from_manifest({"stage": "eval", "stage_ref": {"name": "eval"}})
