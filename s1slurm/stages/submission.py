"""From a job spec to a run: resolve the profile, check, plan, record the manifest, launch.

It sits above the launchers (which never import a stage) because resolving a spec needs its
:class:`~s1slurm.stages.base.Stage`.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic

from s1slurm import __version__
from s1slurm.config.cluster import ClusterFile, Profile
from s1slurm.config.discovery import recorded_cluster_file
from s1slurm.config.loading import read_yaml
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import Launcher, PlannedTask, Submission
from s1slurm.launch.records import launch_recorded
from s1slurm.launch.task import SpecT
from s1slurm.stages.base import Stage


@dataclass
class Resolved(Generic[SpecT]):
    """A job spec with everything it needs to be launched."""

    stage: Stage[SpecT]
    spec: SpecT
    spec_path: Path
    profile_name: str
    profile: Profile
    tasks: list[PlannedTask]
    cluster_path: Path | None = None  # the profiles file it was resolved with (recorded for follow-ups)


def checked(
    stage: Stage[SpecT],
    spec_path: Path,
    cluster: ClusterFile,
    cluster_path: Path,
    profile_name: str | None,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[SpecT, str, Profile]:
    """Load the spec for ``stage`` (which the caller looked up), pick its profile, apply the spec's
    cluster overrides and the stage's resources, and run the stage's checks: the spec, the
    profile's name and the profile its tasks run with.

    ``force`` and ``dry_run`` are passed to the stage's check (``submit --force``: skip
    estimate-based refusals; ``--dry-run``/``--test-only``/``plan``: hub checks may be skipped offline).
    """
    stage_name = stage.name
    data = read_yaml(spec_path)
    declared = data.setdefault("stage", stage_name)
    if declared != stage_name:
        raise ConfigError(
            f"this spec is for stage '{declared}', not '{stage_name}'",
            file=str(spec_path),
            field="stage",
            expected=f"'{stage_name}'",
        )
    spec = stage.load_spec(spec_path, data)
    name = profile_name or spec.profile or cluster.default  # the command line wins
    try:
        base = cluster.profile(name, file=str(cluster_path))
    except ConfigError as e:
        if profile_name or not spec.profile:
            raise
        # the spec named the profile: its field is at fault, not the profiles file
        raise ConfigError(
            f"{e.detail} (profiles from {cluster_path})",
            file=str(spec_path),
            field="profile",
            expected=f"{e.expected} (or --profile)",
        ) from None
    profile = base.merged(spec.cluster, source=str(spec_path))
    try:
        stage.check(spec, profile, spec_path, force=force, dry_run=dry_run)
        profile = stage.resources(spec, profile)
    except ConfigError as e:  # a check that did not know which file it was reading
        raise (e.in_file(str(spec_path)) if e.file is None else e) from None
    return spec, name, profile


def resolve(
    stage: Stage[SpecT],
    spec_path: Path,
    cluster: ClusterFile,
    cluster_path: Path,
    profile_name: str | None,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> Resolved[SpecT]:
    """The spec :func:`checked` and planned: everything it needs to be launched."""
    spec, name, profile = checked(
        stage, spec_path, cluster, cluster_path, profile_name, force=force, dry_run=dry_run
    )
    tasks = [PlannedTask(i, shard) for i, shard in enumerate(stage.plan(spec))]
    if not tasks:
        raise ConfigError("the spec plans no tasks", file=str(spec_path))
    return Resolved(stage, spec, spec_path, name, profile, tasks, Path(cluster_path))


def make_launcher(resolved: Resolved[Any], console=None) -> Launcher:
    """The backend the stage picks for the profile (see :meth:`Stage.make_launcher`)."""
    return resolved.stage.make_launcher(resolved.profile, resolved.spec, console=console)


def manifest_for(resolved: Resolved[Any], run: RunDir, command_line: list[str]) -> dict[str, Any]:
    """The manifest as written before anything runs (tasks read their spec from it)."""
    return {
        "run": run.name,
        "stage": resolved.stage.name,
        "stage_ref": resolved.stage.ref().to_dict(),
        "s1slurm_version": __version__,
        "created": time.time(),
        "command_line": command_line,
        "spec_file": str(resolved.spec_path),
        "spec": resolved.spec.model_dump(mode="json"),
        "profile_name": resolved.profile_name,
        "profile": resolved.profile.model_dump(mode="json"),
        "cluster_file": recorded_cluster_file(resolved.cluster_path),
        "executor": resolved.profile.executor,
        "tasks": [
            {"index": t.index, "shard": t.shard.to_dict(), "shard_id": t.shard.id, "job_id": None}
            for t in resolved.tasks
        ],
        "submissions": [],
        "produces": resolved.stage.produces,  # what a later reader (the report) may take from the run
        **resolved.stage.manifest_extra(resolved.spec),
    }


def create_run(
    resolved: Resolved[Any], command_line: list[str] | None = None
) -> tuple[RunDir, dict[str, Any]]:
    """Make the run folder and write its manifest and a readable copy of the spec."""
    run = RunDir.create(resolved.spec.runs_dir, resolved.stage.name)
    manifest = manifest_for(resolved, run, command_line or sys.argv)
    atomic_write_json(run.manifest_path, manifest)
    shutil.copyfile(resolved.spec_path, run.spec_path)
    resolved.stage.prepare_run(resolved.spec, run)
    return run, manifest


def submit(
    resolved: Resolved[Any], launcher: Launcher, command_line: list[str] | None = None
) -> tuple[RunDir, Submission]:
    """Create the run and launch every planned task."""
    launcher.preflight()
    run, manifest = create_run(resolved, command_line)
    return run, launch_recorded(run, manifest, launcher, resolved.tasks)


def dry_run_dir(resolved: Resolved[Any]) -> RunDir:
    """The run folder a submission would create (not created)."""
    return RunDir(Path(resolved.spec.runs_dir).resolve() / f"{resolved.stage.name}-YYYYmmddTHHMMSSZ-xxxxxx")
