"""Acting on an existing run of any stage or a pipeline: cancel its jobs, resume its unfinished shards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError, SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import PlannedTask, Submission
from s1slurm.launch.environment import scrubbed
from s1slurm.launch.task_status import read_status
from s1slurm.stages import stage_of


def cancel(run: RunDir, task: int | None = None) -> list[str]:
    """Cancel every job of the run (or only task ``task``'s) and record it in the manifest.

    Every job id SLURM ever accepted for the run is in its submissions (chunk by chunk), so jobs
    of a submission that failed half-way are reached too.
    """
    manifest = run.read_manifest(require=("tasks", "submissions"))
    if task is not None and task not in {t["index"] for t in manifest["tasks"]}:
        raise ConfigError(
            f"no task {task} in this run",
            file=str(run.manifest_path),
            field="tasks",
            expected=f"0..{len(manifest['tasks']) - 1}",
        )
    if manifest.get("executor") == "local":
        out = _cancel_local(run, task)
        _record_cancel(run, task, [])
        return out
    if task is None:
        ids = sorted({a["job_id"] for s in manifest["submissions"] for a in s.get("arrays", [])})
    else:
        ids = [t["job_id"] for t in manifest["tasks"] if t["index"] == task and t.get("job_id")]
    ids += stage_of(run, manifest).related_jobs(run, task)  # e.g. a pipeline's links and its steps' runs
    if not ids:
        return ["nothing was submitted"]
    scancel = shutil.which("scancel")
    if scancel is None:
        raise SlurmError("scancel was not found on PATH: is this a SLURM login node?")
    try:
        proc = subprocess.run(
            [scancel, *ids], capture_output=True, text=True, env=scrubbed(os.environ), timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"scancel could not be run: {e}") from None
    out = [f"scancel {' '.join(ids)}"]
    if proc.stdout.strip() or proc.stderr.strip():
        out.append((proc.stdout + proc.stderr).strip())
    if proc.returncode != 0 and "already" not in proc.stderr and "Invalid job id" not in proc.stderr:
        raise SlurmError(f"scancel failed: {proc.stderr.strip()}")
    _record_cancel(run, task, ids)
    return out


def _record_cancel(run: RunDir, task: int | None, ids: list[str]) -> None:
    manifest = run.read_manifest()  # re-read: a running pipeline may have added jobs meanwhile
    manifest.setdefault("cancellations", []).append(
        {"time": time.time(), "task": task, "jobs": ids, "command_line": sys.argv}
    )
    atomic_write_json(run.manifest_path, manifest)


def _cancel_local(run: RunDir, task: int | None = None) -> list[str]:
    """Stop local tasks still running on this host (their pids are in the task state files)."""
    out = []
    for t in read_status(run, query_slurm=False).tasks:
        if t.state != "RUNNING" or (task is not None and t.index != task):
            continue
        for path in run.tasks_dir.glob(f"task-{t.index:05d}-rank-*.json"):
            data = json.loads(path.read_text())
            if data.get("host") == socket.gethostname() and data.get("state") == "running":
                pid = int(data["pid"])
                if not _is_s1slurm_process(pid):
                    continue  # a stale state file: that pid now belongs to something else
                try:
                    os.kill(pid, signal.SIGTERM)
                    out.append(f"stopped task {t.index} (pid {pid})")
                except (ProcessLookupError, PermissionError):
                    pass
    return out or ["no local task is running"]


def _is_s1slurm_process(pid: int) -> bool:
    """Whether ``pid`` runs s1slurm (guards against pids reused after a crash)."""
    try:
        return b"s1slurm" in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def resume(
    run: RunDir, console=None, failed_only: bool = False
) -> tuple[list[PlannedTask], Submission | None]:
    """Launch again, as one new submission, the unfinished work of ``run`` with its recorded config
    (the stage decides what that is: its pending shards, or a pipeline's first unfinished step)."""
    manifest = run.read_manifest(require=("stage", "tasks", "spec", "profile"))
    return stage_of(run, manifest).resume(run, console=console, failed_only=failed_only)
