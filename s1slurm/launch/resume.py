"""Resubmitting a run's unfinished shards with its recorded config, as one new submission."""

from __future__ import annotations

import sys

from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import PlannedTask, Submission
from s1slurm.launch.task import StageRef, run_config
from s1slurm.monitor.status import FAILURES, read_status


def pending_tasks(run: RunDir, failed_only: bool = False, scheduler=None) -> list[PlannedTask]:
    """Tasks whose shard has no done marker and that are neither queued nor running now.

    ``failed_only`` keeps only tasks that ended badly (failed, timed out, preempted, node failure,
    out of memory, lost), not cancelled or never submitted ones.
    """
    status = read_status(run, scheduler=scheduler)
    if status.slurm_unavailable:
        raise SlurmError("SLURM (squeue) could not be asked about this run's jobs; refusing to resubmit "
                         f"shards that may still be queued or running ({'; '.join(status.errors)})")
    todo = []
    for t, task in zip(status.tasks, status.manifest["tasks"]):
        if t.done or t.active or t.state == "UNKNOWN":
            continue
        if failed_only and t.state not in FAILURES:
            continue
        todo.append(PlannedTask(t.index, Shard.from_dict(task["shard"])))
    return todo


def resume_tasks(run: RunDir, stage: StageRef, console=None,
                 failed_only: bool = False) -> tuple[list[PlannedTask], Submission | None]:
    """Launch the pending tasks of ``run`` (a run of ``stage``) again, with the spec and profile
    recorded in its manifest; returns them and the submission (None when nothing was pending)."""
    from s1slurm.launch.submit import launch_recorded

    manifest = run.read_manifest()
    spec, profile = run_config(run, stage.load().spec_model)
    todo = pending_tasks(run, failed_only)
    if not todo:
        return [], None
    if profile.executor == "local":
        from s1slurm.launch.local import LocalLauncher

        launcher = LocalLauncher(profile, spec, stage, console=console)
    else:
        from s1slurm.launch.slurm import SlurmLauncher

        launcher = SlurmLauncher(profile, spec, stage)
    return todo, launch_recorded(run, manifest, launcher, todo, command_line=sys.argv)
