"""Submitting a pipeline's links: small CPU jobs, each started after the previous step succeeded.

Under SLURM only the first link is submitted at once; each link submits its step and then the next
link waiting for the step's jobs with the one ``afterok`` rule of every chain
(:func:`~s1slurm.launch.dependency.after_ok`: when a step fails SLURM drops the rest of the chain
instead of keeping it pending forever). Locally the links simply run one after the other (the local
launcher does that).
"""

from __future__ import annotations

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import Launcher, PlannedTask, Submission
from s1slurm.launch.dependency import after_ok
from s1slurm.launch.environment import submission_environment
from s1slurm.launch.local import LocalLauncher
from s1slurm.launch.records import launch_recorded
from s1slurm.launch.slurm import SlurmLauncher
from s1slurm.launch.task import StageRef, run_config
from s1slurm.pipeline.spec import PipelineSpec


class LinkLauncher(SlurmLauncher):
    """The SLURM backend of a pipeline's links: submits the first of the given links only (waiting
    for ``after``); that link submits the next, and so on."""

    def __init__(
        self, profile: Profile, spec: JobSpec, stage: StageRef, *, after: list[str] | None = None
    ) -> None:
        if after:
            profile = profile.merged(
                {"extra_sbatch": after_ok(profile.extra_sbatch, after)}, source="pipeline link"
            )
        super().__init__(profile, spec, stage)

    def render(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        return super().render(run, tasks[:1])

    def test(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        return super().test(run, tasks[:1])

    def launch(self, run: RunDir, tasks: list[PlannedTask], on_chunk=None) -> Submission:
        return super().launch(run, tasks[:1], on_chunk=on_chunk)


def submit_link(run: RunDir, index: int, after: list[str]) -> Submission:
    """Submit pipeline task ``index`` (from inside the previous link) and record it in the manifest."""
    spec, profile = run_config(run, PipelineSpec)
    manifest = run.read_manifest()
    task = next(t for t in manifest["tasks"] if t["index"] == index)
    launcher = LinkLauncher(profile, spec, StageRef.from_manifest(manifest), after=after)
    with submission_environment():
        return launch_recorded(
            run,
            manifest,
            launcher,
            [PlannedTask(index, Shard.from_dict(task["shard"]))],
            command_line=["s1slurm", "pipeline-link", str(run.path), str(index)],
        )


def make_launcher(profile: Profile, spec: JobSpec, stage: StageRef, console=None) -> Launcher:
    """The pipeline's launcher for ``profile``: links in order here, or chained SLURM jobs."""
    if profile.executor == "local":
        return LocalLauncher(profile, spec, stage, console=console)
    return LinkLauncher(profile, spec, stage)
