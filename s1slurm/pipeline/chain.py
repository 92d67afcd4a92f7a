"""What one pipeline task does: check the previous step finished, start its own step with the
previous step's output as input, and (under SLURM) submit the next link with an afterok dependency.

What differs by stage (its output, what it takes from the step before, when it is complete, the
jobs it submits on its own) is asked of the step's :class:`~s1slurm.stages.base.Stage`.

Layout in the pipeline's run folder, per step ``<name>-00000-of-00001``::

    outputs/<step>/spec.yaml      the step's spec as submitted (its input filled in)
    outputs/<step>/step.json      which run the step made ({"run": path, "stage": ...})
    outputs/<step>/<stage>-.../   that run's folder (a normal run: status, logs, resume work on it)
    outputs/<report step>/        the report files (report.html, report.md, ...)
    done/<step>.done              written once the step's run is complete (all its shards done)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1slurm.config.loading import read_yaml
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.records import waiting_jobs
from s1slurm.pipeline.links import submit_link
from s1slurm.pipeline.spec import REPORT, PipelineSpec, StepConfig
from s1slurm.report import build_report
from s1slurm.stages import Stage, get_stage, stage_of
from s1slurm.stages.chain import submit_after

STEP_FILE = "step.json"
SPEC_FILE = "spec.yaml"


@dataclass(frozen=True)
class StepPaths:
    """Files of one step inside the pipeline's run folder."""

    run: RunDir
    spec: PipelineSpec
    index: int

    @property
    def step(self) -> StepConfig:
        return self.spec.steps[self.index]

    @property
    def root(self) -> Path:
        return self.run.shard_path(self.spec.shard(self.index))

    @property
    def stage(self) -> Stage[Any]:
        return get_stage(self.step.stage)

    @property
    def record(self) -> Path:
        return self.root / STEP_FILE

    def child(self) -> RunDir | None:
        """The run this step made, if any."""
        try:
            data = json.loads(self.record.read_text())
            return RunDir.open(data["run"])
        except (OSError, ValueError, KeyError, ConfigError):
            return None


def step_complete(paths: StepPaths) -> bool:
    """The step's link marked it done, or its run is complete (as its stage judges)."""
    if paths.run.is_done(paths.spec.shard(paths.index)):
        return True
    child = paths.child()
    return child is not None and paths.stage.is_complete(child)


def step_output(paths: StepPaths) -> Path:
    """What a finished step hands to the next one."""
    child = paths.child()
    if child is None:
        raise StageError(f"step '{paths.step.step_name}' has no run")
    return paths.stage.output(child)


def child_spec(
    step: StepConfig, previous: StepConfig | None, previous_output: Path | None, runs_dir: Path
) -> dict[str, Any]:
    """The step's spec with its input taken from the previous step's output where its stage takes
    what that one produces (a training the curated dataset, an evaluation the trained model), its
    runs under ``runs_dir``."""
    assert step.config is not None
    data = dict(read_yaml(step.config))
    data["stage"] = step.stage
    data["runs_dir"] = str(runs_dir)
    stage = get_stage(step.stage)
    if previous is not None and previous_output is not None and stage.takes_from(get_stage(previous.stage)):
        data = stage.take_input(data, str(previous_output))
    return data


def run_step(run: RunDir, spec: PipelineSpec, index: int, manifest: dict[str, Any], *, local: bool) -> None:
    """Do pipeline task ``index`` (see the module docstring); raises StageError when it cannot."""
    if manifest.get("cwd"):
        os.chdir(manifest["cwd"])  # relative paths in the steps' specs mean what they meant at submission
    paths = StepPaths(run, spec, index)
    previous = StepPaths(run, spec, index - 1) if index else None
    if previous is not None:
        before = previous.child()
        if before is not None and not local and not step_complete(previous):
            jobs = previous.stage.related_jobs(before)
            if jobs:  # the step submitted more work meanwhile (a curation its next step): wait for it too
                submit_link(run, index, after=jobs)
                return
        if not step_complete(previous):
            raise StageError(
                f"step '{previous.step.step_name}' did not finish: step "
                f"'{paths.step.step_name}' is not started (see 's1slurm status {run.path}')"
            )
        run.mark_done(spec.shard(index - 1), {"run": str(before.path) if before else None})
    if paths.step.stage == REPORT:
        _report(paths, previous)
        return
    child = paths.child()
    if child is None:
        child = _submit_child(paths, previous, manifest)
    elif not paths.stage.is_complete(child):
        stage_of(child).resume(child)
    if local:
        if not paths.stage.is_complete(child):
            raise StageError(
                f"step '{paths.step.step_name}' did not finish: see 's1slurm status {child.path}'"
            )
        run.mark_done(spec.shard(index), {"run": str(child.path)})
        return
    if index + 1 < len(spec.steps):
        submit_link(run, index + 1, after=waiting_jobs(child))
    # (A pipeline task ends here; its step's run goes on, and the next link checks it finished.)


def _submit_child(paths: StepPaths, previous: StepPaths | None, manifest: dict[str, Any]) -> RunDir:
    """Submit the step's run (the link runs after the step before succeeded: nothing to wait for)."""
    output = step_output(previous) if previous is not None else None
    data = child_spec(paths.step, previous.step if previous else None, output, paths.root)

    def record(child: RunDir) -> None:  # before its tasks launch: status finds the run while it is submitted
        atomic_write_json(
            paths.record,
            {"run": str(child.path), "stage": paths.step.stage, "spec": str(paths.root / SPEC_FILE)},
        )

    child, _ = submit_after(
        paths.stage,
        data,
        paths.root / SPEC_FILE,
        manifest,
        after=[],
        command_line=["s1slurm", "pipeline", str(paths.run.path), paths.step.step_name],
        on_created=record,
    )
    return child


def _report(paths: StepPaths, previous: StepPaths | None) -> None:
    assert previous is not None  # the spec puts a report right after an eval step
    child = previous.child()
    if child is None:
        raise StageError("the eval step made no run to report on")
    result = build_report([child.path], paths.root, strict=False, reference=paths.step.reference)
    paths.run.mark_done(
        paths.spec.shard(paths.index),
        {"report": {k: str(v) for k, v in result.files.items()}, "eval_run": str(child.path)},
    )
