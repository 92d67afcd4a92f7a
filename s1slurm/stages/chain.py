"""Submitting a run from inside another (the one way every chain submits): a curation's next step,
the evaluation training submits when it succeeds (``eval_after``) and a pipeline's steps.

The new run is resolved with the profiles file and profile its parent was submitted with, and
(under SLURM) waits with ``afterok`` (:func:`~s1slurm.launch.dependency.after_ok`) for the jobs
named, so that it starts only once they exited successfully.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from s1slurm.config.discovery import profiles_for_run
from s1slurm.core.atomic import atomic_write_text
from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import Submission
from s1slurm.launch.dependency import after_ok
from s1slurm.launch.environment import submission_environment
from s1slurm.launch.records import launch_recorded
from s1slurm.stages.base import Stage
from s1slurm.stages.submission import create_run, make_launcher, resolve


def spec_after(data: dict[str, Any], jobs: list[str]) -> dict[str, Any]:
    """Spec ``data`` whose jobs start once every job in ``jobs`` has succeeded (none: at once)."""
    cluster = dict(data.get("cluster") or {})
    extra = after_ok(cluster.get("extra_sbatch") or {}, jobs)
    if extra:
        cluster["extra_sbatch"] = extra
    else:
        cluster.pop("extra_sbatch", None)
    return {**data, "cluster": cluster}


def submit_after(
    stage: Stage[Any],
    data: dict[str, Any],
    spec_file: Path,
    parent_manifest: dict[str, Any],
    *,
    after: list[str],
    command_line: list[str],
    on_created: Callable[[RunDir], None] | None = None,
) -> tuple[RunDir, Submission]:
    """Write ``data`` (a spec of ``stage``) to ``spec_file`` and submit it as a new run that waits for
    ``after``; ``on_created`` is called with the run folder before its tasks are launched (so that
    whoever follows the chain finds the run while it is being submitted). Raises what a submission
    raises (ConfigError, SlurmError, ...)."""
    atomic_write_text(spec_file, yaml.safe_dump(spec_after(data, after), sort_keys=False))
    found = profiles_for_run(parent_manifest)  # the profiles the chain's first submission saw
    resolved = resolve(
        stage, spec_file, found.cluster, Path(found.source.label), parent_manifest.get("profile_name")
    )
    launcher = make_launcher(resolved)
    launcher.preflight()
    run, manifest = create_run(resolved, command_line)
    if on_created is not None:
        on_created(run)
    with submission_environment():  # no SLURM_* of the submitting job may leak into the child's sbatch
        submission = launch_recorded(run, manifest, launcher, resolved.tasks)
    return run, submission


def follow_up(
    stage: Stage[Any],
    data: dict[str, Any],
    spec_file: Path,
    parent_manifest: dict[str, Any],
    *,
    after: list[str],
    command_line: list[str],
) -> dict[str, Any]:
    """:func:`submit_after` for a run that already succeeded: what happened, as a record (the new
    run and its jobs, or the error); never raises."""
    record: dict[str, Any] = {
        "spec": str(spec_file),
        "dependency": "afterok:" + ":".join(after) if after else None,
    }
    try:
        run, submission = submit_after(
            stage, data, spec_file, parent_manifest, after=after, command_line=command_line
        )
        record.update(
            run=str(run.path),
            jobs=[a["job_id"] for a in submission.arrays],
            failed_tasks=submission.failed_tasks,
        )
    except Exception as e:  # the parent succeeded whatever happens here: record, do not raise
        record["error"] = f"{type(e).__name__}: {e}"
    return record
