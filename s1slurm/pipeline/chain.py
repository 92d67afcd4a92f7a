"""What one pipeline task does: check the previous step finished, start its own step with the
previous step's output as input, and (under SLURM) submit the next link with an afterok dependency.

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

import yaml

from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.rundir import RunDir
from s1slurm.pipeline.spec import PipelineSpec, StepConfig

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
    def record(self) -> Path:
        return self.root / STEP_FILE

    def child(self) -> RunDir | None:
        """The run this step made, if any."""
        try:
            data = json.loads(self.record.read_text())
            return RunDir.open(data["run"])
        except (OSError, ValueError, KeyError, ConfigError):
            return None


def child_complete(child: RunDir) -> bool:
    """Every shard of the step's run has its done marker."""
    manifest = child.read_manifest()
    done = child.done_ids()
    return all(t["shard_id"] in done for t in manifest["tasks"])


def step_complete(paths: StepPaths) -> bool:
    if paths.run.is_done(paths.spec.shard(paths.index)):
        return True
    child = paths.child()
    if child is None or not child_complete(child):
        return False
    if paths.step.stage == "curate":  # its run is the first of the curation's own chain
        from s1slurm.pipeline.curate_output import curation_complete

        return curation_complete(child)
    return True


def step_output(paths: StepPaths) -> Path:
    """What a finished step hands to the next one."""
    child = paths.child()
    if child is None:
        raise StageError(f"step '{paths.step.step_name}' has no run")
    stage = paths.step.stage
    if stage == "train":
        from s1slurm.train.paths import TrainPaths

        return TrainPaths(child).model_dir
    if stage == "curate":
        from s1slurm.pipeline.curate_output import selected_dataset

        return selected_dataset(child)
    return child.path


def child_spec(step: StepConfig, previous: StepConfig | None, previous_output: Path | None,
               runs_dir: Path) -> dict[str, Any]:
    """The step's spec with its input taken from the previous step, written to a run under ``runs_dir``.

    curate -> train: the train spec's ``data.source`` is the curated dataset; train -> eval: the eval
    spec's ``model`` is the trained model folder. Other pairs pass nothing.
    """
    from s1slurm.config.loading import read_yaml

    assert step.config is not None
    data = dict(read_yaml(step.config))
    data["stage"] = step.stage
    data["runs_dir"] = str(runs_dir)
    if previous is not None and previous_output is not None:
        if previous.stage == "train" and step.stage == "eval":
            data["model"] = str(previous_output)
        elif previous.stage == "curate" and step.stage == "train":
            data["data"] = {**dict(data.get("data") or {}), "source": str(previous_output)}
    return data


def run_step(run: RunDir, spec: PipelineSpec, index: int, manifest: dict[str, Any], *, local: bool) -> None:
    """Do pipeline task ``index`` (see the module docstring); raises StageError when it cannot."""
    if manifest.get("cwd"):
        os.chdir(manifest["cwd"])  # relative paths in the steps' specs mean what they meant at submission
    paths = StepPaths(run, spec, index)
    previous = StepPaths(run, spec, index - 1) if index else None
    if previous is not None:
        if previous.step.stage == "curate" and not local and not step_complete(previous):
            from s1slurm.pipeline.curate_output import chain_jobs
            from s1slurm.pipeline.launcher import submit_link

            child = previous.child()
            jobs = chain_jobs(child) if child is not None else []
            if jobs:  # the curation submitted its next step meanwhile: wait for that one too
                submit_link(run, index, after=jobs)
                return
        if not step_complete(previous):
            raise StageError(f"step '{previous.step.step_name}' did not finish: step "
                             f"'{paths.step.step_name}' is not started (see 's1slurm status {run.path}')")
        run.mark_done(spec.shard(index - 1), {"run": str(previous.child().path) if previous.child() else None})
    if paths.step.stage == "report":
        _report(paths, previous)
        return
    child = paths.child()
    if child is None:
        child = _submit_child(paths, previous, manifest, local=local)
    elif not child_complete(child):
        from s1slurm.launch.resume import resume_tasks
        from s1slurm.launch.task import StageRef

        resume_tasks(child, StageRef.from_manifest(child.read_manifest(), file=str(child.manifest_path)))
    if local:
        if not child_complete(child):
            raise StageError(f"step '{paths.step.step_name}' did not finish: see 's1slurm status {child.path}'")
        run.mark_done(spec.shard(index), {"run": str(child.path)})
        return
    if index + 1 < len(spec.steps):
        from s1slurm.pipeline.launcher import submit_link

        submit_link(run, index + 1, after=waiting_jobs(child))
    # (A pipeline task ends here; its step's run goes on, and the next link checks it finished.)


def _submit_child(paths: StepPaths, previous: StepPaths | None, manifest: dict[str, Any], *,
                  local: bool) -> RunDir:
    from s1slurm.config.discovery import profiles_for_run
    from s1slurm.launch import submit as sub
    from s1slurm.launch.environment import submission_environment
    from s1slurm.stages import get_stage

    output = step_output(previous) if previous is not None else None
    data = child_spec(paths.step, previous.step if previous else None, output, paths.root)
    spec_file = paths.root / SPEC_FILE
    atomic_write_text(spec_file, yaml.safe_dump(data, sort_keys=False))
    found = profiles_for_run(manifest)
    resolved = sub.resolve(get_stage(paths.step.stage), spec_file, found.cluster, Path(found.source.label),
                           manifest.get("profile_name"))
    launcher = sub.make_launcher(resolved)
    launcher.preflight()
    child, child_manifest = sub.create_run(resolved, ["s1slurm", "pipeline", str(paths.run.path),
                                                      paths.step.step_name])
    atomic_write_json(paths.record, {"run": str(child.path), "stage": paths.step.stage,
                                     "spec": str(spec_file)})
    with submission_environment():  # no SLURM_* of this link job may leak into the step's sbatch
        sub.launch_recorded(child, child_manifest, launcher, resolved.tasks)
    return child


def waiting_jobs(child: RunDir) -> list[str]:
    """The jobs the next step must wait for: those of the step's shards without a done marker.

    A whole array is named by its id when every one of its tasks is still to come; otherwise its
    elements are named one by one (``afterok`` on an array whose earlier element failed and was
    resubmitted elsewhere would never be satisfied).
    """
    manifest = child.read_manifest()
    done = child.done_ids()
    sizes = {a["job_id"]: a["size"] for s in manifest["submissions"] for a in s.get("arrays", [])}
    current: dict[str, list[str]] = {}
    for t in manifest["tasks"]:
        if t.get("job_id"):
            current.setdefault(t["job_id"].split("_")[0], []).append(t["job_id"] if t["shard_id"] not in done
                                                                     else "")
    out = []
    for base, jobs in current.items():
        todo = [j for j in jobs if j]
        if not todo:
            continue
        if len(todo) == sizes.get(base, -1) or "_" not in todo[0]:
            out.append(base)
        else:
            out += todo
    return out


def _report(paths: StepPaths, previous: StepPaths | None) -> None:
    from s1slurm.report import build_report

    assert previous is not None  # the spec puts a report right after an eval step
    child = previous.child()
    if child is None:
        raise StageError("the eval step made no run to report on")
    result = build_report([child.path], paths.root, strict=False, reference=paths.step.reference)
    paths.run.mark_done(paths.spec.shard(paths.index), {"report": {k: str(v) for k, v in result.files.items()},
                                                        "eval_run": str(child.path)})
