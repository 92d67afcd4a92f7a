"""Per-task status of a run, read from its folder (and SLURM accounting for SLURM runs)."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.monitor import sacct

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE", "DONE", "NOT SUBMITTED", "NOT RUN", "LOST"}


@dataclass
class TaskStatus:
    """What is known about one task."""

    index: int
    shard_id: str
    job_id: str | None
    state: str                  # DONE, or SLURM's state, or the task's own (RUNNING/FAILED...)
    slurm_state: str | None
    nodes: str
    elapsed: str
    done: bool
    error: str | None = None
    ranks: dict[int, str] = field(default_factory=dict)   # rank -> task state

    @property
    def terminal(self) -> bool:
        return self.done or self.state in TERMINAL


@dataclass
class RunStatus:
    """Status of every task of a run."""

    run: RunDir
    manifest: dict[str, Any]
    tasks: list[TaskStatus]
    slurm_unavailable: bool = False   # SLURM accounting could not be asked: states may be stale

    @property
    def counts(self) -> Counter:
        return Counter(t.state for t in self.tasks)

    @property
    def finished(self) -> bool:
        return all(t.terminal for t in self.tasks)


def _task_states(run: RunDir) -> dict[int, dict[int, dict]]:
    """task index -> rank -> last state file content."""
    out: dict[int, dict[int, dict]] = {}
    for path in run.tasks_dir.glob("task-*-rank-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out.setdefault(int(data["task"]), {})[int(data["rank"])] = data
    return out


def _alive(state: dict) -> bool:
    """Whether the process that wrote a local task state still runs (on this host)."""
    if state.get("host") != socket.gethostname():
        return True  # cannot tell from here
    try:
        os.kill(int(state.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _elapsed(ranks: dict[int, dict]) -> str:
    """Longest elapsed time recorded by the ranks of a task, as H:MM:SS."""
    seconds = max((d.get("elapsed_s") or 0 for d in ranks.values()), default=0)
    if not seconds:
        return ""
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _job_of(state: dict) -> str | None:
    """The job id (``123_4`` for array elements) a task state file was written by."""
    if state.get("array_job_id"):
        return f"{state['array_job_id']}_{state['array_task_id']}"
    return state.get("job_id")


def read_status(run: RunDir, query_slurm: bool = True) -> RunStatus:
    """Collect the status of every task of ``run``."""
    manifest = run.read_manifest()
    done = run.done_ids()
    states = _task_states(run)
    job_ids = [t["job_id"] for t in manifest["tasks"] if t.get("job_id")]
    local = manifest.get("executor") != "slurm"
    answer = sacct.query(job_ids) if query_slurm and not local else {}
    slurm = answer or {}
    rows = []
    for t in manifest["tasks"]:
        shard_id = Shard.from_dict(t["shard"]).id
        # State files of an earlier attempt (before a resume) say nothing about the current job.
        ranks = {r: d for r, d in states.get(t["index"], {}).items()
                 if manifest.get("executor") != "slurm" or _job_of(d) == t.get("job_id")}
        rank_states = {r: d["state"] for r, d in sorted(ranks.items())}
        info = slurm.get(t["job_id"] or "")
        own = ("FAILED" if "failed" in rank_states.values() else
               "RUNNING" if "running" in rank_states.values() else
               "COMPLETED" if rank_states else None)
        if own == "RUNNING" and local and not any(_alive(d) for d in ranks.values()):
            own = "LOST"  # the local process died without recording why
        if shard_id in done:
            state = "DONE"
        elif info is not None:
            state = info.state
        elif own is not None:
            state = own
        else:
            state = ("NOT RUN" if local else "NOT SUBMITTED" if not t.get("job_id") else "PENDING")
        error = next((d.get("error") for d in ranks.values() if d.get("error")), None)
        nodes = info.nodes if info else ",".join(sorted({d.get("node") or d.get("host") or "" for d in ranks.values()}))
        rows.append(TaskStatus(index=t["index"], shard_id=shard_id, job_id=t.get("job_id"), state=state,
                               slurm_state=info.state if info else None, nodes=nodes,
                               elapsed=info.elapsed if info else _elapsed(ranks), done=shard_id in done,
                               error=error, ranks=rank_states))
    return RunStatus(run=run, manifest=manifest, tasks=rows, slurm_unavailable=answer is None)
