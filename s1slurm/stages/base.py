"""What a stage is: a spec model, a plan of shards, a ``run`` for one shard, and everything else that
differs from one stage to another (its output, what it takes from the step before, when it is
complete, the jobs it submits on its own, its progress). Code outside a stage's own module asks
the stage; it never branches on a stage's name."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, cast

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.config.loading import load_model
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import Launcher, PlannedTask, Submission
from s1slurm.launch.local import LocalLauncher
from s1slurm.launch.records import launch_recorded, shards_complete
from s1slurm.launch.resume import pending_tasks
from s1slurm.launch.slurm import SlurmLauncher
from s1slurm.launch.task import SpecT, StageRef, TaskContext, run_config  # TaskContext: what run() gets
from s1slurm.launch.task_status import RunStatus
from s1slurm.stages.progress import FileCache, RunProgress, shards_done


class Stage(ABC, Generic[SpecT]):
    """One family of GPU work. Subclasses live in one module (or folder) each under ``stages/``
    (the pipeline, which chains the others, in :mod:`s1slurm.pipeline.stage`)."""

    name: ClassVar[str]
    spec_model: ClassVar[type[JobSpec]]
    # Jobs of a requeueable stage get ``#SBATCH --requeue`` (clusters with JobRequeue=0 refuse
    # ``scontrol requeue`` otherwise) and may ask to be requeued from :meth:`on_requeue_signal`.
    requeueable: ClassVar[bool] = False
    # In a pipeline, the kind of thing a complete run hands to the next step (:meth:`output`) and
    # the kind this stage takes from the step before (:meth:`take_input`), e.g. "model", "dataset";
    # None: nothing. A step takes the output of the step before only when the two kinds match.
    produces: ClassVar[str | None] = None
    consumes: ClassVar[str | None] = None

    @classmethod
    def ref(cls) -> StageRef:
        """What the launcher and the tasks know of this stage (the launcher never imports stages)."""
        return StageRef(cls.name, f"{cls.__module__}:{cls.__qualname__}", cls.requeueable)

    # --- submission -------------------------------------------------------------------------

    def load_spec(self, spec_path: Path, data: dict[str, Any]) -> SpecT:
        """``data`` (read from ``spec_path``) validated as this stage's spec; a clear error if not."""
        # spec_model is SpecT's class (a ClassVar cannot name a type variable, hence the cast)
        return cast(SpecT, load_model(spec_path, self.spec_model, data))

    def recorded(self, run: RunDir) -> tuple[SpecT, Profile]:
        """The spec and profile recorded in the manifest of a run of this stage."""
        spec, profile = run_config(run, self.spec_model)
        return cast(SpecT, spec), profile  # as in load_spec

    def check(
        self, spec: SpecT, profile: Profile, spec_path: Path, *, force: bool = False, dry_run: bool = False
    ) -> None:
        """Validate inputs before anything is submitted; raise ConfigError naming ``spec_path``.

        ``force`` (``submit --force``) lets a stage skip refusals that are estimates, not errors
        (for example a planned memory peak above the GPU's); it never skips invalid input.
        ``dry_run`` (``--dry-run``, ``--test-only``, ``plan``): checks that need the Hugging Face hub
        may be skipped on a machine without internet, saying so in :meth:`plan_text`; a real
        submission always runs them.
        """

    def plan_text(self, spec: SpecT, profile: Profile, width: int | None = None) -> str | None:
        """A readable resource plan of the spec on ``profile`` (printed by ``submit --dry-run`` and
        ``plan``), laid out for a terminal ``width`` columns wide when given."""
        return None

    def resources(self, spec: SpecT, profile: Profile) -> Profile:
        """The profile this stage's tasks run with (after the spec's ``cluster`` overrides)."""
        return profile

    def prepare_run(self, spec: SpecT, run: RunDir) -> None:
        """Write into a new run folder what its tasks need besides the manifest (called once, at
        submission, before any task is launched)."""

    def manifest_extra(self, spec: SpecT) -> dict:
        """Stage-specific facts recorded in manifest.json at submission (e.g. expected questions)."""
        return {}

    @abstractmethod
    def plan(self, spec: SpecT) -> list[Shard]:
        """All shards of the run, in task order (task index = position in the list)."""

    def make_launcher(self, profile: Profile, spec: SpecT, console: Any = None) -> Launcher:
        """The backend that runs this stage's tasks: here, one after the other, or SLURM jobs."""
        if profile.executor == "local":
            return LocalLauncher(profile, spec, self.ref(), console=console)
        return SlurmLauncher(profile, spec, self.ref())

    # --- running ----------------------------------------------------------------------------

    @abstractmethod
    def run(self, ctx: TaskContext[SpecT]) -> None:
        """Do one shard's work, write its outputs atomically, and mark it done (rank 0)."""

    def on_requeue_signal(self, ctx: TaskContext[SpecT]) -> bool:
        """Called when SLURM signals the end of the allocation; return True to requeue the task."""
        return False

    # --- a run of this stage, once submitted ---------------------------------------------------

    def takes_from(self, previous: Stage[Any]) -> bool:
        """Whether this stage takes the output of a step of ``previous`` as its input."""
        return self.consumes is not None and previous.produces == self.consumes

    def take_input(self, data: dict[str, Any], previous_output: str) -> dict[str, Any]:
        """This stage's spec (as read from YAML) with the output of the step before it (of the kind
        it ``consumes``) as its input; by default a stage takes nothing."""
        return data

    def output(self, run: RunDir) -> Path:
        """What a complete run hands to the next step (by default its run folder)."""
        return run.path

    def unfinished(self, run: RunDir) -> str | None:
        """Work of ``run`` still to come elsewhere once all of its shards are done (a curation's
        next steps run in runs of their own), as a short phrase; None when there is none."""
        return None

    def is_complete(self, run: RunDir) -> bool:
        """Every shard of ``run`` has its done marker and nothing of it is left to run elsewhere."""
        return shards_complete(run) and self.unfinished(run) is None

    def related_jobs(self, run: RunDir, task: int | None = None) -> list[str]:
        """Jobs ``run`` (or its task ``task``) submitted on its own, outside its manifest's tasks:
        cancelled with it, and waited for by what is chained after it."""
        return []

    def related_runs(self, run: RunDir) -> list[RunDir]:
        """Runs that ``run`` made (shown right after it by ``status``)."""
        return []

    def progress(self, status: RunStatus, files: FileCache) -> RunProgress:
        """How far ``run`` is, in this stage's unit of work (by default: shards)."""
        return shards_done(status.tasks)

    def steps(self, status: RunStatus, runs: dict[Path, RunStatus]) -> list[dict[str, Any]]:
        """Rows of the steps a run chains (a pipeline's), given the status of the runs it made."""
        return []

    def resume(
        self, run: RunDir, console: Any = None, failed_only: bool = False
    ) -> tuple[list[PlannedTask], Submission | None]:
        """Launch the pending tasks of ``run`` again (see :func:`~s1slurm.launch.resume.pending_tasks`),
        as one new submission with the spec and profile recorded in its manifest; returns them and
        the submission (None when nothing was pending)."""
        manifest = run.read_manifest()
        spec, profile = self.recorded(run)
        todo = pending_tasks(run, failed_only)
        if not todo:
            return [], None
        launcher = self.make_launcher(profile, spec, console=console)
        return todo, launch_recorded(run, manifest, launcher, todo, command_line=sys.argv)
