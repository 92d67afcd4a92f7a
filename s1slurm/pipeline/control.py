"""Cancelling and resuming a pipeline: its links and the runs of its steps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import PlannedTask, Submission
from s1slurm.launch.environment import scrubbed
from s1slurm.launch.records import launch_recorded
from s1slurm.launch.task import StageRef, run_config
from s1slurm.launch.task_status import read_statuses
from s1slurm.pipeline.chain import StepPaths
from s1slurm.pipeline.links import make_launcher
from s1slurm.pipeline.spec import PipelineSpec
from s1slurm.pipeline.status import pipeline_steps, step_runs


def pipeline_job_ids(run: RunDir, task: int | None = None) -> list[str]:
    """Job ids of the runs the pipeline's steps made (all steps, or step ``task``)."""
    manifest = run.read_manifest()
    spec = PipelineSpec.model_validate(manifest["spec"])
    ids: list[str] = []
    for i in range(len(spec.steps)):
        if task is not None and i != task:
            continue
        child = StepPaths(run, spec, i).child()
        if child is not None:
            child_manifest = child.read_manifest()
            ids += [a["job_id"] for s in child_manifest["submissions"] for a in s.get("arrays", [])]
        if task is not None:
            ids += [t["job_id"] for t in manifest["tasks"] if t["index"] == i and t.get("job_id")]
    return sorted(set(ids))


def resume_pipeline(
    run: RunDir, console=None, failed_only: bool = False
) -> tuple[list[PlannedTask], Submission | None]:
    """Pick the pipeline up at its first unfinished step.

    Nothing is done while that step is still pending or running. Otherwise the links left waiting
    for it are cancelled and the links from that step on are launched again; the first one resumes
    the step's run (only its unfinished shards) or starts it if it never started.
    """
    statuses = read_statuses([run, *step_runs(run)])
    pipeline = statuses[0]
    if pipeline.slurm_unavailable:
        raise SlurmError("SLURM (squeue) could not be asked about this pipeline's jobs; refusing to resubmit")
    steps = pipeline_steps(pipeline, {s.run.path: s for s in statuses})
    first = next((s for s in steps if s["state"] != "DONE"), None)
    if first is None or first["state"] in ("RUNNING", "PENDING", "WAITING"):
        return [], None
    spec, profile = run_config(run, PipelineSpec)
    manifest = run.read_manifest()
    stage = StageRef.from_manifest(manifest, file=str(run.manifest_path))  # before anything is cancelled
    stale = [
        s["link_job"]
        for s in steps[first["index"] :]
        if s.get("link_job") and pipeline.tasks[s["index"]].active
    ]
    if stale and profile.executor == "slurm":
        _scancel(stale)
    todo = [
        PlannedTask(t["index"], Shard.from_dict(t["shard"]))
        for t in manifest["tasks"]
        if t["index"] >= first["index"]
    ]
    launcher = make_launcher(profile, spec, stage, console=console)
    return todo, launch_recorded(run, manifest, launcher, todo, command_line=sys.argv)


def _scancel(ids: list[str]) -> None:
    scancel = shutil.which("scancel")
    if scancel is None:
        raise SlurmError("scancel was not found on PATH: is this a SLURM login node?")
    try:
        subprocess.run([scancel, *ids], capture_output=True, text=True, env=scrubbed(os.environ), timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"scancel could not be run: {e}") from None
