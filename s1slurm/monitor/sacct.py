"""Ask SLURM accounting (``sacct``) about jobs, expanding pending array ranges."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from s1slurm.launch.environment import scrubbed

_RANGE = re.compile(r"^(?P<base>\d+)_\[(?P<ranges>[^\]%]+)(?:%\d+)?\]$")


@dataclass(frozen=True)
class JobInfo:
    """One job (or array element) as sacct reports it."""

    job_id: str
    state: str
    nodes: str
    elapsed: str
    exit_code: str


def _expand(job_id: str) -> list[str]:
    """``12_[3-5,7%2]`` -> ``12_3 12_4 12_5 12_7``; other ids unchanged."""
    m = _RANGE.match(job_id)
    if not m:
        return [job_id]
    out = []
    for part in m.group("ranges").split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group('base')}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """Parse ``sacct -X -n -P -o JobID,State,NodeList,Elapsed,ExitCode`` output.

    Requeued jobs appear several times; the last line wins (sacct lists attempts in order).
    """
    info: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[0]:
            continue
        job_id, state, nodes, elapsed, exit_code = parts[:5]
        state = state.split()[0] if state else state  # "CANCELLED by 0" -> "CANCELLED"
        for jid in _expand(job_id):
            info[jid] = JobInfo(jid, state, nodes, elapsed, exit_code)
    return info


def query(job_ids: list[str], timeout: float = 30) -> dict[str, JobInfo] | None:
    """States of ``job_ids`` (base ids or array elements); None when SLURM could not be asked."""
    sacct = shutil.which("sacct")
    bases = sorted({jid.split("_")[0] for jid in job_ids if jid})
    if not bases:
        return {}
    if sacct is None:
        return None
    cmd = [sacct, "-X", "-n", "-P", "-D", "-o", "JobID,State,NodeList,Elapsed,ExitCode", "-j", ",".join(bases)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=scrubbed(os.environ))
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return parse_sacct(proc.stdout)
