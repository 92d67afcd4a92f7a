"""Acting on an existing run: cancel its jobs, resume its unfinished shards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

from s1slurm.config.cluster import Profile
from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import PlannedTask, Submission
from s1slurm.launch.environment import scrubbed
from s1slurm.monitor.status import read_status
from s1slurm.stages import get_stage


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
    proc = subprocess.run([scancel, *ids], capture_output=True, text=True, env=scrubbed(os.environ), timeout=60)
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
                try:
                    os.kill(int(data["pid"]), signal.SIGTERM)
                    out.append(f"stopped task {t.index} (pid {data['pid']})")
                except ProcessLookupError:
                    pass
    return out or ["no local task is running"]


def pending_tasks(run: RunDir) -> list[PlannedTask]:
    """Tasks whose shard has no done marker and that SLURM is not running or queueing now."""
    status = read_status(run)
    active = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"}
    return [PlannedTask(t.index, Shard.from_dict(task["shard"]))
            for t, task in zip(status.tasks, status.manifest["tasks"])
            if not t.done and not (t.slurm_state in active)]


def resume(run: RunDir, console=None) -> tuple[list[PlannedTask], Submission | None]:
    """Launch again the unfinished shards of ``run`` with its recorded spec and profile."""
    from s1slurm.launch.submit import record_submission

    manifest = run.read_manifest()
    stage = get_stage(manifest["stage"])
    spec = stage.spec_model.model_validate(manifest["spec"])
    profile = Profile.model_validate(manifest["profile"])
    todo = pending_tasks(run)
    if not todo:
        return [], None
    if profile.executor == "local":
        from s1slurm.launch.local import LocalLauncher

        launcher = LocalLauncher(profile, spec, stage.name, console=console)
    else:
        from s1slurm.launch.slurm import SlurmLauncher

        launcher = SlurmLauncher(profile, spec, stage.name)
    submission = launcher.launch(run, todo)
    manifest["command_line_resume"] = sys.argv
    record_submission(run, manifest, submission)
    return todo, submission
