"""What a stage is: a spec model, a plan of shards, and a ``run`` for one shard."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.task import StageRef, TaskContext  # TaskContext: what every stage's run() gets


class Stage(ABC):
    """One family of GPU work. Subclasses live in one module (or folder) each under ``stages/``."""

    name: ClassVar[str]
    spec_model: ClassVar[type[JobSpec]]
    # Jobs of a requeueable stage get ``#SBATCH --requeue`` (clusters with JobRequeue=0 refuse
    # ``scontrol requeue`` otherwise) and may ask to be requeued from :meth:`on_requeue_signal`.
    requeueable: ClassVar[bool] = False

    @classmethod
    def ref(cls) -> StageRef:
        """What the launcher and the tasks know of this stage (the launcher never imports stages)."""
        return StageRef(cls.name, f"{cls.__module__}:{cls.__qualname__}", cls.requeueable)

    def check(self, spec: JobSpec, profile: Profile, spec_path: Path, *, force: bool = False,
              dry_run: bool = False) -> None:
        """Validate inputs before anything is submitted; raise ConfigError naming ``spec_path``.

        ``force`` (``submit --force``) lets a stage skip refusals that are estimates, not errors
        (for example a planned memory peak above the GPU's); it never skips invalid input.
        ``dry_run`` (``--dry-run``, ``--test-only``, ``plan``): checks that need the Hugging Face hub
        may be skipped on a machine without internet, saying so in :meth:`plan_text`; a real
        submission always runs them.
        """

    def plan_text(self, spec: JobSpec, profile: Profile) -> str | None:
        """A readable resource plan of the spec on ``profile`` (printed by ``submit --dry-run``)."""
        return None

    def resources(self, spec: JobSpec, profile: Profile) -> Profile:
        """The profile this stage's tasks run with (after the spec's ``cluster`` overrides)."""
        return profile

    def prepare_run(self, spec: JobSpec, run: RunDir) -> None:
        """Write into a new run folder what its tasks need besides the manifest (called once, at
        submission, before any task is launched)."""

    def manifest_extra(self, spec: JobSpec) -> dict:
        """Stage-specific facts recorded in manifest.json at submission (e.g. expected questions)."""
        return {}

    @abstractmethod
    def plan(self, spec: JobSpec) -> list[Shard]:
        """All shards of the run, in task order (task index = position in the list)."""

    @abstractmethod
    def run(self, ctx: TaskContext) -> None:
        """Do one shard's work, write its outputs atomically, and mark it done (rank 0)."""

    def on_requeue_signal(self, ctx: TaskContext) -> bool:
        """Called when SLURM signals the end of the allocation; return True to requeue the task."""
        return False
