"""Per-task status of runs: done markers and task state files from the run folder, and one batched
scheduler query (squeue, then sacct for what squeue no longer knows) for all runs together.

How a task's state is decided (first rule that applies):

1. its shard has a done marker: ``DONE``;
2. it was never submitted: ``NOT SUBMITTED`` (``NOT RUN`` for local runs);
3. the scheduler knows its job: a live state (``PENDING``, ``RUNNING``, ...) as it is; an end state
   as it is, except that a job SLURM calls ``FAILED``/``COMPLETED`` whose task still says "running"
   ended without recording why (``kill -9``, the OOM killer): ``LOST``;
4. the scheduler was asked and knows nothing: the task's own end (``FAILED``, ``COMPLETED``) if it
   wrote one, else ``CANCELLED`` if ``s1slurm cancel`` recorded a scancel of its job (an array element
   cancelled while pending never reaches accounting), else ``LOST`` (gone without a trace);
5. the scheduler could not be asked: the task's own last word (``RUNNING``...), or ``UNKNOWN``.

Answers the scheduler could not refresh are the last known ones, flagged stale with their age.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_text
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.scheduler import ACTIVE, JobInfo, Scheduler, Snapshot
from s1slurm.launch.task_logs import task_logs

TERMINAL = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "DONE",
    "NOT SUBMITTED",
    "NOT RUN",
    "LOST",
}
# End states that say the work did not succeed (what ``resume --failed-only`` reruns).
FAILURES = {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "LOST"}
CACHE_FILE = ".scheduler-cache.json"  # last answers about this run's jobs, for stale display


@dataclass
class TaskStatus:
    """What is known about one task."""

    index: int
    shard_id: str
    job_id: str | None
    state: str  # DONE, the scheduler's state, the task's own, LOST or UNKNOWN
    slurm_state: str | None
    nodes: str
    elapsed: str
    done: bool
    error: str | None = None
    ranks: dict[int, str] = field(default_factory=dict)  # rank -> task state
    reason: str = ""  # the scheduler's reason (pending: Priority, Dependency...)
    stale_s: float | None = None  # the scheduler's answer is this old (None: fresh)
    started: float | None = None  # when rank 0 last wrote "running"

    @property
    def terminal(self) -> bool:
        return self.done or self.state in TERMINAL

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def array(self) -> str:
        """The job (array) id this task belongs to, or '-'."""
        return (self.job_id or "-").split("_")[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "shard": self.shard_id,
            "job_id": self.job_id,
            "state": self.state,
            "slurm_state": self.slurm_state,
            "nodes": self.nodes,
            "elapsed": self.elapsed,
            "done": self.done,
            "error": self.error,
            "reason": self.reason,
            "stale_s": self.stale_s,
            "ranks": {str(r): s for r, s in self.ranks.items()},
        }


@dataclass(frozen=True)
class Failure:
    """Where a run failed, as the user needs it: which task (or pipeline step), the first line of
    its error, and the log file that holds the rest."""

    where: str  # "task 0 (train-00000-of-00001)", or a pipeline's "step 'train'"
    first_line: str
    log: Path | None = None

    def line(self) -> str:
        """``step 'train' failed: StageError: ... (log: /runs/.../task-00000.log)``"""
        return f"{self.where} failed: {self.first_line}" + (f" (log: {self.log})" if self.log else "")

    def within(self, where: str) -> Failure:
        """The same failure seen from a pipeline: named by its step."""
        return Failure(f"{where}, {self.where}", self.first_line, self.log)

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "first_line": self.first_line,
            "log": str(self.log) if self.log else None,
        }


@dataclass
class RunStatus:
    """Status of every task of a run, and how the scheduler answered."""

    run: RunDir
    manifest: dict[str, Any]
    tasks: list[TaskStatus]
    squeue_ok: bool = True
    accounting: str = "ok"
    errors: list[str] = field(default_factory=list)
    calls: int = 0
    taken: float = field(default_factory=time.time)

    @property
    def slurm_unavailable(self) -> bool:
        """The live view could not be read: which tasks are queued or running is not known."""
        return not self.squeue_ok

    @property
    def counts(self) -> Counter:
        return Counter(t.state for t in self.tasks)

    @property
    def finished(self) -> bool:
        return all(t.terminal for t in self.tasks)

    @property
    def failure(self) -> Failure | None:
        """The first task that failed (and is not done), named with its error and log; None if none."""
        task = next((t for t in self.tasks if not t.done and t.state in FAILURES), None)
        return None if task is None else self.failure_of(task)

    def failure_of(self, task: TaskStatus) -> Failure:
        """Task ``task``'s failure: its error's first line and the log that holds the rest."""
        return Failure(
            f"task {task.index} ({task.shard_id})",
            first_line(task.error or task.reason or task.state),
            _error_log(self.run, self.manifest, task.index),
        )

    @property
    def stale(self) -> float | None:
        """Age of the oldest stale answer shown, or None when everything is fresh."""
        ages = [t.stale_s for t in self.tasks if t.stale_s is not None]
        return max(ages) if ages else None


def first_line(text: str) -> str:
    """The first non-empty line of an error message (the rest is in the log)."""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())


def _error_log(run: RunDir, manifest: dict, task_index: int) -> Path | None:
    """The log file that holds a task's error: its own log locally, rank 0's stderr under SLURM."""
    try:
        files = task_logs(run, manifest, task_index)
    except ConfigError:
        return None
    chosen = next((f for f in files if f.label in ("log", "rank 0 err")), files[0] if files else None)
    return chosen.path if chosen else None


def task_states(run: RunDir) -> dict[int, dict[int, dict]]:
    """task index -> rank -> last state file content."""
    out: dict[int, dict[int, dict]] = {}
    for path in run.tasks_dir.glob("task-*-rank-*.json"):
        try:
            data = json.loads(path.read_text())
            out.setdefault(int(data["task"]), {})[int(data["rank"])] = data
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _alive(state: dict) -> bool:
    """Whether the process that wrote a local task state still runs (on this host)."""
    if state.get("host") != socket.gethostname():
        return True  # cannot tell from here
    try:
        os.kill(int(state.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _elapsed(ranks: dict[int, dict]) -> str:
    """Longest elapsed time recorded by the ranks of a task, as HH:MM:SS."""
    seconds = max((d.get("elapsed_s") or 0 for d in ranks.values()), default=0)
    if not seconds:
        return ""
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _job_of(state: dict) -> str | None:
    """The job id (``123_4`` for array elements) a task state file was written by."""
    if state.get("array_job_id"):
        return f"{state['array_job_id']}_{state['array_task_id']}"
    return state.get("job_id")


def decide(
    *,
    done: bool,
    submitted: bool,
    local: bool,
    own: str | None,
    info: JobInfo | None,
    live_ok: bool,
    alive: bool = True,
    cancelled: bool = False,
) -> str:
    """The state of one task from what is known about it (the rules of this module's docstring).

    ``own`` is the task's own word over its ranks: ``failed``, ``running``, ``completed`` or None.
    ``cancelled``: ``s1slurm cancel`` recorded a scancel of the task's job (an array element cancelled
    while pending never reaches accounting: neither squeue nor sacct knows it afterwards).
    """
    if done:
        return "DONE"
    if local:
        if own == "running":
            return "RUNNING" if alive else "LOST"
        return {"failed": "FAILED", "completed": "COMPLETED"}.get(own or "", "NOT RUN")
    if not submitted:
        return "NOT SUBMITTED"
    if info is not None:
        if info.state in ("FAILED", "COMPLETED") and own == "running":
            return "LOST"
        return info.state
    if own == "failed":
        return "FAILED"
    if own == "completed":
        return "COMPLETED"
    if cancelled:
        return "CANCELLED"
    if live_ok:
        return "LOST"
    return "RUNNING" if own == "running" else "UNKNOWN"


def _own_word(rank_states: dict[int, str]) -> str | None:
    values = set(rank_states.values())
    return (
        "failed"
        if "failed" in values
        else "running"
        if "running" in values
        else "completed"
        if values
        else None
    )


def _load_cache(run: RunDir) -> dict[str, tuple[JobInfo, float]]:
    try:
        data = json.loads((run.path / CACHE_FILE).read_text())
        return {jid: (JobInfo(jid, *row[:6]), float(row[6])) for jid, row in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _save_cache(
    run: RunDir, scheduler: Scheduler, job_ids: Iterable[str], previous: dict[str, tuple[JobInfo, float]]
) -> None:
    """Keep the last answers about this run's jobs in its folder (a later ``status`` may need them)."""
    known = {jid: scheduler.last[jid] for jid in job_ids if jid in scheduler.last}
    if known.keys() == previous.keys() and all(previous[k][0] == v[0] for k, v in known.items()):
        return  # nothing new: no write (a watch with 10,000 tasks rewrites nothing while they wait)
    previous.clear()
    previous.update(known)
    try:
        rows = {
            jid: [i.state, i.nodes, i.elapsed, i.exit_code, i.reason, i.source, when]
            for jid, (i, when) in known.items()
        }
        atomic_write_text(run.path / CACHE_FILE, json.dumps(rows, separators=(",", ":")))
    except OSError:
        pass  # a run folder we may not write to: the memory of this process still serves


def read_statuses(
    runs: list[RunDir], scheduler: Scheduler | None = None, query_slurm: bool = True
) -> list[RunStatus]:
    """The status of every task of every run in ``runs``, with one scheduler query for all of them."""
    scheduler = scheduler or Scheduler()
    loaded = []
    for run in runs:
        manifest = run.read_manifest(require=("tasks",))
        done = run.done_ids()
        local = manifest.get("executor") != "slurm"
        cache = {}
        if not local:
            if str(run.path) not in scheduler.saved:  # read once per process, then kept up to date
                scheduler.saved[str(run.path)] = _load_cache(run)
                scheduler.remember(scheduler.saved[str(run.path)])
            cache = scheduler.saved[str(run.path)]
        loaded.append((run, manifest, done, local, cache))
    wanted: dict[str, bool] = {}
    for _, manifest, done, local, _ in loaded:
        if local:
            continue
        for t in manifest["tasks"]:
            if t.get("job_id"):
                shard_id = t.get("shard_id") or Shard.from_dict(t["shard"]).id
                wanted[t["job_id"]] = wanted.get(t["job_id"], False) or shard_id not in done
    snap = (
        scheduler.query(wanted, need_accounting=lambda j: wanted.get(j, True))
        if query_slurm and wanted
        else Snapshot(accounting="skipped")
    )
    out = []
    for run, manifest, done, local, cache in loaded:
        status = _run_status(run, manifest, done, local, snap)
        if not local and query_slurm:
            _save_cache(run, scheduler, [t["job_id"] for t in manifest["tasks"] if t.get("job_id")], cache)
        out.append(status)
    return out


def read_status(run: RunDir, query_slurm: bool = True, scheduler: Scheduler | None = None) -> RunStatus:
    """Collect the status of every task of ``run``."""
    return read_statuses([run], scheduler, query_slurm)[0]


def _run_status(run: RunDir, manifest: dict, done: set[str], local: bool, snap: Snapshot) -> RunStatus:
    states = task_states(run)
    scancelled = {j for c in manifest.get("cancellations") or [] for j in c.get("jobs") or []}
    rows = []
    for t in manifest["tasks"]:
        shard_id = t.get("shard_id") or Shard.from_dict(t["shard"]).id
        job_id = t.get("job_id")
        # State files of an earlier attempt (before a resume) say nothing about the current job.
        ranks = {r: d for r, d in states.get(t["index"], {}).items() if local or _job_of(d) == job_id}
        rank_states = {r: d.get("state", "?") for r, d in sorted(ranks.items())}
        own = _own_word(rank_states)
        info = snap.jobs.get(job_id or "") if not local else None
        alive = any(_alive(d) for d in ranks.values()) if local and own == "running" else True
        state = decide(
            done=shard_id in done,
            submitted=bool(job_id),
            local=local,
            own=own,
            info=info,
            live_ok=snap.squeue_ok,
            alive=alive,
            cancelled=bool(job_id) and (job_id in scancelled or str(job_id).split("_")[0] in scancelled),
        )
        error = next((d.get("error") for d in ranks.values() if d.get("error")), None)
        if state in FAILURES and state != "LOST" and not error and info is not None:
            error = (
                f"SLURM: {info.state}"
                + (f", exit code {info.exit_code}" if info.exit_code else "")
                + (f", {info.reason}" if info.reason and info.reason != "None" else "")
            )
        if state == "LOST" and not error:
            error = "the task ended without recording why" + (
                f" (SLURM: {info.state}, exit {info.exit_code or '?'})"
                if info
                else " (SLURM no longer knows its job)"
                if not local
                else " (its process is gone)"
            )
        nodes = (
            info.nodes
            if info and info.nodes
            else ",".join(sorted({d.get("node") or d.get("host") or "" for d in ranks.values()} - {""}))
        )
        started = next((d.get("time") for r, d in sorted(ranks.items()) if d.get("state") == "running"), None)
        rows.append(
            TaskStatus(
                index=t["index"],
                shard_id=shard_id,
                job_id=job_id,
                state=state,
                slurm_state=info.state if info else None,
                nodes=nodes,
                elapsed=(info.elapsed if info and info.elapsed else _elapsed(ranks)),
                done=shard_id in done,
                error=error,
                ranks=rank_states,
                reason=(info.reason if info and info.reason != "None" else ""),
                stale_s=snap.age(job_id) if job_id and not local else None,
                started=started,
            )
        )
    return RunStatus(
        run=run,
        manifest=manifest,
        tasks=rows,
        squeue_ok=snap.squeue_ok or local,
        accounting="local" if local else snap.accounting,
        errors=[] if local else list(snap.errors),
        calls=snap.calls,
        taken=snap.taken,
    )
