"""The launcher template: plan -> (dry run | test | submit) with small backend hooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.task import ShardTask, StageRef


@dataclass
class PlannedTask:
    """One task of a run: its global index and shard."""

    index: int
    shard: Shard


@dataclass
class Submission:
    """What a backend did: the jobs it created and which task each job runs."""

    executor: str
    arrays: list[dict[str, Any]] = field(default_factory=list)  # one entry per sbatch call
    task_jobs: dict[int, str] = field(default_factory=dict)  # task index -> SLURM job id
    failed_tasks: list[int] = field(default_factory=list)  # local runs: tasks that raised


class Launcher(ABC):
    """Backend hooks; :mod:`s1slurm.stages.submission` drives them in the same order for every backend."""

    name: str

    def __init__(self, profile: Profile, spec: JobSpec, stage: StageRef) -> None:
        self.profile, self.spec, self.stage = profile, spec, stage

    @property
    def stage_name(self) -> str:
        return self.stage.name

    def make_task(self, run: RunDir, task: PlannedTask) -> ShardTask:
        return ShardTask(self.stage, str(run.path), task.shard.to_dict(), task.index)

    def preflight(self) -> None:
        """Check the backend can be used at all, before a run folder is created."""

    @abstractmethod
    def render(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        """What would be submitted, as text (the exact sbatch scripts for SLURM)."""

    def test(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        """Ask the scheduler whether it would accept the submission; return its answers."""
        return ["local execution needs no scheduler: nothing to test"]

    @abstractmethod
    def launch(
        self, run: RunDir, tasks: list[PlannedTask], on_chunk: Callable[[Submission], None] | None = None
    ) -> Submission:
        """Run or submit ``tasks`` for the (already written) run.

        ``on_chunk`` is called with the submission so far after each part SLURM accepted, so that
        the caller records job ids before the next part is tried.
        """
