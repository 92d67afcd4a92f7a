"""Stopping for a requeue: which warning this is, how long the ranks may take, asking SLURM.

Two warnings reach a training job:

- ``USR2``, ``signal_delay_s`` before the time limit (``#SBATCH --signal``), or on preemption where
  the cluster sets ``PreemptParameters=send_user_signal``;
- ``SIGTERM`` on preemption otherwise (SLURM's default), followed by ``SIGKILL`` after the
  partition's ``GraceTime``.

Either way the ranks checkpoint and exit, and the rank-0 task asks SLURM to requeue the job. The
ranks get the warning's time minus ``launch.stop_margin_s``, which is kept for the requeue and the
exit; a requeue is recorded only once ``scontrol requeue`` has been accepted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

from s1slurm.config.cluster import Profile

# The least time the ranks are given, however short the warning (a checkpoint of a small model).
MIN_GRACE_S = 5.0


def parse_time_left(text: str) -> float | None:
    """Seconds in squeue's ``%L`` (``MM:SS``, ``H:MM:SS``, ``D-HH:MM:SS``); None for UNLIMITED etc."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not text or not all(p.isdigit() for p in parts) or (days and not days.isdigit()) or len(parts) > 3:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + int(p)
    return float(seconds + int(days or 0) * 86400)


def _run(args: list[str], timeout: float = 15) -> subprocess.CompletedProcess | None:
    exe = shutil.which(args[0])
    if exe is None:
        return None
    try:
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def seconds_left_in_job() -> float | None:
    """What SLURM says is left of this job's time limit (None when it cannot tell)."""
    job = os.environ.get("SLURM_JOB_ID")
    proc = _run(["squeue", "-h", "-j", job, "-o", "%L"]) if job else None
    return parse_time_left(proc.stdout) if proc is not None else None


def partition_grace_s(partition: str | None = None) -> float | None:
    """The ``GraceTime`` of ``partition`` (default: this job's), the time between SIGTERM and SIGKILL
    on preemption; None when SLURM cannot tell."""
    partition = partition or os.environ.get("SLURM_JOB_PARTITION")
    proc = _run(["scontrol", "-o", "show", "partition", partition]) if partition else None
    m = re.search(r"\bGraceTime=(\d+)", proc.stdout) if proc is not None else None
    return float(m.group(1)) if m else None


def classify_signal(profile: Profile, started: float, left: float | None) -> str:
    """``timeout`` when the job is at its time limit, else ``preemption``."""
    if left is None:
        left = profile.time_minutes * 60 - (time.time() - started)
    return "timeout" if left <= profile.signal_delay_s + 60 else "preemption"


def stop_grace_s(
    signal_name: str, kind: str, profile: Profile, margin_s: float, grace_time_s: float | None
) -> tuple[float, str]:
    """How long the ranks may take to checkpoint and exit, and why.

    USR2 (time limit, or a preemption with ``send_user_signal``) comes ``signal_delay_s`` early;
    SIGTERM on preemption leaves the partition's ``GraceTime`` before SIGKILL.
    """
    if signal_name == "SIGTERM" and kind == "preemption" and grace_time_s is not None:
        window, source = grace_time_s, f"the partition's GraceTime {grace_time_s:g} s"
    else:
        window, source = float(profile.signal_delay_s), f"signal_delay_s {profile.signal_delay_s} s"
    return max(window - margin_s, MIN_GRACE_S), f"{source} - stop margin {margin_s:g} s"


def requeue_job(job_id: str) -> tuple[bool, str]:
    """``scontrol requeue <job>``: whether SLURM accepted it, and SLURM's words."""
    proc = _run(["scontrol", "requeue", job_id], timeout=60)
    if proc is None:
        return False, "scontrol could not be run"
    words = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, words or f"exit code {proc.returncode}"
