"""Which of a run's tasks to launch again: unfinished shards that are neither queued nor running."""

from __future__ import annotations

from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import PlannedTask
from s1slurm.launch.task_status import FAILURES, read_status


def pending_tasks(run: RunDir, failed_only: bool = False, scheduler=None) -> list[PlannedTask]:
    """Tasks whose shard has no done marker and that are neither queued nor running now.

    ``failed_only`` keeps only tasks that ended badly (failed, timed out, preempted, node failure,
    out of memory, lost), not cancelled or never submitted ones.
    """
    status = read_status(run, scheduler=scheduler)
    if status.slurm_unavailable:
        raise SlurmError(
            "SLURM (squeue) could not be asked about this run's jobs; refusing to resubmit "
            f"shards that may still be queued or running ({'; '.join(status.errors)})"
        )
    todo = []
    for t, task in zip(status.tasks, status.manifest["tasks"]):
        if t.done or t.active or t.state == "UNKNOWN":
            continue
        if failed_only and t.state not in FAILURES:
            continue
        todo.append(PlannedTask(t.index, Shard.from_dict(task["shard"])))
    return todo
