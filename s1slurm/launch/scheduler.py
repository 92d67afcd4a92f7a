"""Ask SLURM about many jobs at once: one ``squeue`` (the controller's live view) and one ``sacct``
(accounting, for jobs the controller has forgotten), never one call per task.

``squeue --states=all`` also lists jobs that ended less than ``MinJobAge`` ago, so a cluster without
accounting still shows recent outcomes. Answers are kept with the time they were obtained: when a
later call fails (after a few quick retries), callers show the last known state as stale, with its age.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from s1slurm.launch.environment import scrubbed

_RANGE = re.compile(r"^(?P<base>\d+)_\[(?P<ranges>[^\]%]+)(?:%\d+)?\]$")
# sacct's words when the cluster keeps no accounting at all (not a failure: nothing to retry).
_NO_ACCOUNTING = ("accounting storage is disabled", "accounting_storage/none")
# Active states: the job holds, or waits for, an allocation.
ACTIVE = frozenset(
    {
        "PENDING",
        "RUNNING",
        "CONFIGURING",
        "COMPLETING",
        "REQUEUED",
        "RESIZING",
        "SUSPENDED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SPECIAL_EXIT",
    }
)


@dataclass(frozen=True)
class JobInfo:
    """One job (or array element) as the scheduler reports it."""

    job_id: str
    state: str
    nodes: str = ""
    elapsed: str = ""
    exit_code: str = ""
    reason: str = ""
    source: str = "squeue"  # squeue (live) or sacct (accounting)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "state": self.state,
            "nodes": self.nodes,
            "elapsed": self.elapsed,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "source": self.source,
        }


def expand_array(job_id: str) -> list[str]:
    """``12_[3-5,7%2]`` -> ``12_3 12_4 12_5 12_7``; other ids unchanged."""
    m = _RANGE.match(job_id)
    if not m:
        return [job_id]
    out = []
    for part in m.group("ranges").split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group('base')}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def _state_word(state: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``."""
    return state.split()[0] if state else state


def parse_squeue(text: str) -> dict[str, JobInfo]:
    """Parse ``squeue -h -r -o %i|%T|%N|%M|%r`` output (``-r``: one line per array element)."""
    info: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[0]:
            continue
        job_id, state, nodes, elapsed, reason = parts[:5]
        for jid in expand_array(job_id):
            info[jid] = JobInfo(jid, _state_word(state), nodes, elapsed, "", reason, "squeue")
    return info


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """Parse ``sacct -X -n -P -D -o JobID,State,NodeList,Elapsed,ExitCode,Reason`` output.

    With ``-D`` a requeued job appears once per attempt, in order: the last line wins.
    """
    info: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[0]:
            continue
        job_id, state, nodes, elapsed, exit_code = parts[:5]
        reason = parts[5] if len(parts) > 5 else ""
        for jid in expand_array(job_id):
            info[jid] = JobInfo(jid, _state_word(state), nodes, elapsed, exit_code, reason, "sacct")
    return info


@dataclass
class CallResult:
    """What one scheduler command answered."""

    ok: bool
    stdout: str = ""
    error: str = ""


Runner = Callable[[list[str], float], CallResult]


def run_command(cmd: list[str], timeout: float) -> CallResult:
    """Run a SLURM client command in a scrubbed environment (no job variables leak into it)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=scrubbed(os.environ))
    except (OSError, subprocess.TimeoutExpired) as e:
        return CallResult(False, error=str(e))
    if proc.returncode != 0:
        return CallResult(False, proc.stdout, (proc.stderr or proc.stdout).strip())
    return CallResult(True, proc.stdout)


@dataclass
class Snapshot:
    """The scheduler's answer for a set of jobs, with where it came from and how fresh it is."""

    jobs: dict[str, JobInfo] = field(default_factory=dict)
    squeue_ok: bool = True  # the live view was read now (absence from it means: not queued)
    accounting: str = "ok"  # ok, disabled, failing, skipped (nothing needed it), absent
    errors: list[str] = field(default_factory=list)
    stale_since: dict[str, float] = field(default_factory=dict)  # job id -> time its info was read
    calls: int = 0  # scheduler commands run for this snapshot (retries included)
    taken: float = field(default_factory=time.time)

    def age(self, job_id: str) -> float | None:
        """Seconds since a stale job's information was read; None when it is fresh."""
        since = self.stale_since.get(job_id)
        return None if since is None else max(0.0, self.taken - since)


@dataclass
class Scheduler:
    """Batched squeue/sacct queries with retries and a memory of the last good answer per job.

    One object lives as long as a ``status --watch``; ``last`` is also saved in the run folders so
    that a later one-shot ``status`` can show the last known state of jobs when SLURM does not answer.
    """

    runner: Runner = run_command
    retries: int = 2  # extra attempts after a failure
    retry_delay_s: float = 0.3
    timeout_s: float = 20.0
    which: Callable[[str], str | None] = shutil.which
    accounting_disabled: bool = False  # learnt once: such a cluster is not asked again
    last: dict[str, tuple[JobInfo, float]] = field(default_factory=dict)  # job id -> (info, when read)
    saved: dict[str, dict[str, tuple[JobInfo, float]]] = field(default_factory=dict)  # run folder -> its file

    def _call(self, cmd: list[str], snapshot: Snapshot) -> CallResult:
        result = CallResult(False, error="not run")
        for attempt in range(self.retries + 1):
            snapshot.calls += 1
            result = self.runner(cmd, self.timeout_s)
            if result.ok or _unknown_job(result) or _no_accounting(result):
                return result
            if attempt < self.retries:
                time.sleep(self.retry_delay_s * (attempt + 1))
        return result

    def remember(self, known: dict[str, tuple[JobInfo, float]]) -> None:
        """Seed the memory (from a run folder's saved answers); newer entries win."""
        for jid, (info, when) in known.items():
            if jid not in self.last or self.last[jid][1] < when:
                self.last[jid] = (info, when)

    def query(
        self, job_ids: Iterable[str], *, need_accounting: Callable[[str], bool] = lambda _: True
    ) -> Snapshot:
        """The state of ``job_ids`` (array elements like ``12_3`` or plain ids) in at most two calls.

        ``need_accounting(job_id)`` says whether a job absent from the live view still matters
        (a shard with a done marker does not): sacct is asked only about those.
        """
        ids = sorted({j for j in job_ids if j})
        snap = Snapshot()
        if not ids:
            snap.accounting = "skipped"
            return snap
        bases = sorted({j.split("_")[0] for j in ids})
        now = time.time()
        squeue, sacct = self.which("squeue"), self.which("sacct")
        live: dict[str, JobInfo] = {}
        if squeue is None:
            snap.squeue_ok = False
            snap.errors.append("squeue was not found on PATH")
        else:
            res = self._call(
                [squeue, "-h", "-a", "-r", "--states=all", "-o", "%i|%T|%N|%M|%r", "-j", ",".join(bases)],
                snap,
            )
            if res.ok or _unknown_job(res):
                live = parse_squeue(res.stdout) if res.ok else {}
            else:
                snap.squeue_ok = False
                snap.errors.append(f"squeue failed: {res.error}")
        for jid in ids:
            if jid in live:
                snap.jobs[jid] = live[jid]
                self.last[jid] = (live[jid], now)
        missing = [j for j in ids if j not in snap.jobs and need_accounting(j)]
        if not missing:
            snap.accounting = "skipped"
        elif self.accounting_disabled:
            snap.accounting = "disabled"
        elif sacct is None:
            snap.accounting = "absent"
        else:
            res = self._call(
                [
                    sacct,
                    "-X",
                    "-n",
                    "-P",
                    "-D",
                    "-o",
                    "JobID,State,NodeList,Elapsed,ExitCode,Reason",
                    "-j",
                    ",".join(sorted({j.split("_")[0] for j in missing})),
                ],
                snap,
            )
            if res.ok:
                found = parse_sacct(res.stdout)
                for jid in missing:
                    if jid in found:
                        snap.jobs[jid] = found[jid]
                        self.last[jid] = (found[jid], now)
            elif _no_accounting(res):
                self.accounting_disabled = True
                snap.accounting = "disabled"
            else:
                snap.accounting = "failing"
                snap.errors.append(f"sacct failed: {res.error}")
        # What could not be read now: the last known answer, marked stale. When the live view was
        # read, a job absent from it is not queued or running, so a stale *active* state is dropped.
        for jid in ids:
            if jid in snap.jobs or jid not in self.last:
                continue
            info, when = self.last[jid]
            if snap.squeue_ok and info.active:
                continue
            if snap.squeue_ok and snap.accounting in ("ok", "skipped"):
                continue  # both answered and neither knows it: nothing stale to show
            snap.jobs[jid] = info
            snap.stale_since[jid] = when
        return snap


def _unknown_job(result: CallResult) -> bool:
    """squeue asked about one job id the controller no longer knows answers with an error."""
    return not result.ok and "invalid job id" in result.error.lower()


def _no_accounting(result: CallResult) -> bool:
    return not result.ok and any(w in result.error.lower() for w in _NO_ACCOUNTING)


def max_array_size(
    runner: Runner = run_command, which: Callable[[str], str | None] = shutil.which
) -> int | None:
    """The cluster's ``MaxArraySize`` (``scontrol show config``); None when it cannot be read.

    Array indices go from 0 to MaxArraySize - 1, so an array of MaxArraySize tasks is the largest.
    """
    scontrol = which("scontrol")
    if scontrol is None:
        return None
    res = runner([scontrol, "show", "config"], 20.0)
    if not res.ok:
        return None
    m = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)", res.stdout, re.MULTILINE)
    return int(m.group(1)) if m else None
