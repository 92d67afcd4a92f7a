"""Acting on an existing run: cancel its jobs, resume its unfinished shards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import PlannedTask, Submission
from s1slurm.launch.environment import scrubbed
from s1slurm.launch.task import run_config
from s1slurm.monitor.status import read_status


def cancel(run: RunDir) -> list[str]:
    """Cancel every job of the run; returns what was done, in SLURM's words where it spoke."""
    manifest = run.read_manifest()
    if manifest.get("executor") == "local":
        return _cancel_local(run)
    ids = sorted({a["job_id"] for s in manifest["submissions"] for a in s.get("arrays", [])})
    if not ids:
        return ["nothing was submitted"]
    scancel = shutil.which("scancel")
    if scancel is None:
        raise SlurmError("scancel was not found on PATH: is this a SLURM login node?")
    try:
        proc = subprocess.run([scancel, *ids], capture_output=True, text=True, env=scrubbed(os.environ),
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"scancel could not be run: {e}") from None
    out = [f"scancel {' '.join(ids)}"]
    if proc.stdout.strip() or proc.stderr.strip():
        out.append((proc.stdout + proc.stderr).strip())
    if proc.returncode != 0 and "already" not in proc.stderr:
        raise SlurmError(f"scancel failed: {proc.stderr.strip()}")
    return out


def _cancel_local(run: RunDir) -> list[str]:
    """Stop local tasks still running on this host (their pids are in the task state files)."""
    out = []
    for t in read_status(run, query_slurm=False).tasks:
        if t.state != "RUNNING":
            continue
        for path in run.tasks_dir.glob(f"task-{t.index:05d}-rank-*.json"):
            import json

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


# A job SLURM accounting does not know yet (it lags the controller by seconds) is left alone this long.
_ACCOUNTING_GRACE_S = 120


def pending_tasks(run: RunDir) -> list[PlannedTask]:
    """Tasks whose shard has no done marker and that are not queued or running now."""

    status = read_status(run)
    if status.slurm_unavailable:
        raise SlurmError("SLURM accounting (sacct) could not be asked about this run's jobs; refusing to "
                         "resubmit shards that may still be queued or running")
    active = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"}
    last = max((s.get("time", 0) for s in status.manifest["submissions"]), default=0)
    recent = time.time() - last < _ACCOUNTING_GRACE_S
    todo = []
    for t, task in zip(status.tasks, status.manifest["tasks"]):
        # Accounting may not list a job for a few seconds; a job that never wrote a state file may
        # still be queued then. One whose own state files say it ended is over.
        not_yet_seen = (status.manifest.get("executor") == "slurm" and t.job_id and t.slurm_state is None
                        and not t.ranks)
        if t.done or t.slurm_state in active or t.state == "RUNNING" or (not_yet_seen and recent):
            continue
        todo.append(PlannedTask(t.index, Shard.from_dict(task["shard"])))
    return todo


def resume(run: RunDir, console=None) -> tuple[list[PlannedTask], Submission | None]:
    """Launch again the unfinished shards of ``run`` with its recorded spec and profile."""
    from s1slurm.launch.submit import record_submission

    manifest = run.read_manifest()
    stage, spec, profile = run_config(run)
    todo = pending_tasks(run)
    if not todo:
        return [], None
    if profile.executor == "local":
        from s1slurm.launch.local import LocalLauncher

        launcher = LocalLauncher(profile, spec, stage.name, console=console)
    else:
        from s1slurm.launch.slurm import SlurmLauncher

        launcher = SlurmLauncher(profile, spec, stage.name)
    try:
        submission = launcher.launch(run, todo)
    except Exception as e:
        manifest["submissions"].append({"time": time.time(), "command_line": sys.argv, "error": str(e)})
        atomic_write_json(run.manifest_path, manifest)
        raise
    record_submission(run, manifest, submission, command_line=sys.argv)
    return todo, submission
