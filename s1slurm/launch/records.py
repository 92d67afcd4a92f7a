"""Recording a (re)submission in the run's manifest as SLURM accepts it, part by part."""

from __future__ import annotations

import time
from typing import Any

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import Launcher, PlannedTask, Submission


class SubmissionRecord:
    """One manifest entry for one (re)submission, rewritten after every part SLURM accepts.

    A submission split into several arrays is recorded chunk by chunk: if SLURM refuses a later
    chunk (or the submitting process dies), the job ids it already accepted are in the manifest,
    so ``status`` shows them, ``cancel`` reaches them and ``resume`` does not submit them twice.
    """

    def __init__(self, run: RunDir, manifest: dict[str, Any], command_line: list[str] | None = None) -> None:
        self.run, self.manifest = run, manifest
        self.entry: dict[str, Any] = {
            "time": time.time(),
            "executor": manifest.get("executor"),
            "command_line": command_line or manifest["command_line"],
            "arrays": [],
            "tasks": None,
            "failed_tasks": [],
        }
        manifest["submissions"].append(self.entry)

    def update(self, submission: Submission) -> None:
        """Record what ``submission`` holds so far (called after each accepted chunk)."""
        for task in self.manifest["tasks"]:
            job = submission.task_jobs.get(task["index"])
            if job is not None and task.get("job_id") != job:
                task["job_id"] = job
                task.setdefault("job_ids", []).append(job)
        self.entry.update(
            executor=submission.executor,
            arrays=list(submission.arrays),
            tasks=sorted(submission.task_jobs) or None,
            failed_tasks=list(submission.failed_tasks),
        )
        atomic_write_json(self.run.manifest_path, self.manifest)

    def failed(self, error: BaseException) -> None:
        """Record the error (and whatever part was accepted before it)."""
        partial = getattr(error, "submission", None)
        if isinstance(partial, Submission):
            self.update(partial)
        self.entry["error"] = str(error)
        atomic_write_json(self.run.manifest_path, self.manifest)


def launch_recorded(
    run: RunDir,
    manifest: dict[str, Any],
    launcher: Launcher,
    tasks: list[PlannedTask],
    command_line: list[str] | None = None,
) -> Submission:
    """Launch ``tasks`` and record every accepted part in the manifest as it is accepted."""
    record = SubmissionRecord(run, manifest, command_line)
    try:
        submission = launcher.launch(run, tasks, on_chunk=record.update)
    except BaseException as e:
        record.failed(e)
        raise
    record.update(submission)
    return submission


def shards_complete(run: RunDir) -> bool:
    """Every shard of ``run`` has its done marker."""
    done = run.done_ids()
    return all(t["shard_id"] in done for t in run.read_manifest()["tasks"])


def waiting_jobs(run: RunDir) -> list[str]:
    """The jobs whatever is chained after ``run`` must wait for: those of its shards without a done
    marker.

    A whole array is named by its id when every one of its tasks is still to come; otherwise its
    elements are named one by one (``afterok`` on an array whose earlier element failed and was
    resubmitted elsewhere would never be satisfied).
    """
    manifest = run.read_manifest()
    done = run.done_ids()
    sizes = {a["job_id"]: a["size"] for s in manifest["submissions"] for a in s.get("arrays", [])}
    current: dict[str, list[str]] = {}
    for t in manifest["tasks"]:
        if t.get("job_id"):
            current.setdefault(t["job_id"].split("_")[0], []).append(
                t["job_id"] if t["shard_id"] not in done else ""
            )
    out = []
    for base, jobs in current.items():
        todo = [j for j in jobs if j]
        if not todo:
            continue
        if len(todo) == sizes.get(base, -1) or "_" not in todo[0]:
            out.append(base)
        else:
            out += todo
    return out
