"""Where a task's log files are, reading their ends, and following them (every rank, labelled)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from submitit.core.utils import JobPaths

from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir


@dataclass(frozen=True)
class LogFile:
    """One log file of a task and the label its lines get (``rank 1 err``)."""

    label: str
    path: Path


def task_logs(run: RunDir, manifest: dict, task_index: int) -> list[LogFile]:
    """The log files of one task: submitit's per-rank stdout/stderr for SLURM, ours for local runs."""
    tasks = {t["index"]: t for t in manifest["tasks"]}
    if task_index not in tasks:
        raise ConfigError(
            f"no task {task_index} in this run",
            file=str(run.manifest_path),
            field="tasks",
            expected=f"0..{len(tasks) - 1}",
        )
    if manifest.get("executor") == "local":
        return [LogFile("log", run.local_log_path(task_index))]
    job_id = tasks[task_index].get("job_id")
    if not job_id:
        return []
    n_ranks = manifest["profile"].get("nodes", 1) * manifest["profile"].get("tasks_per_node", 1)
    files = []
    for rank in range(n_ranks):
        jp = JobPaths(run.submitit_dir, job_id=job_id, task_id=rank)
        files += [LogFile(f"rank {rank} out", jp.stdout), LogFile(f"rank {rank} err", jp.stderr)]
    return files


def log_paths(run: RunDir, manifest: dict, task_index: int) -> list[Path]:
    """The paths of :func:`task_logs`."""
    return [f.path for f in task_logs(run, manifest, task_index)]


def tail(path: Path, lines: int = 3, window: int = 16384) -> list[str]:
    """The last ``lines`` non-empty lines of a file (reads only its end); [] when it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - window))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if ln.strip()][-lines:]


def follow(files: list[LogFile], stop: Callable[[], bool], interval: float = 1.0) -> Iterator[str]:
    """Yield new lines of ``files`` as they are written, each prefixed with its label when there
    are several, until ``stop()`` is true (checked before each pass, so the last lines still come)."""
    offsets = {f.path: 0 for f in files}
    while True:
        finished = stop()
        for f in files:
            if not f.path.exists():
                continue
            with open(f.path, errors="replace") as fh:
                fh.seek(offsets[f.path])
                chunk = fh.read()
                offsets[f.path] = fh.tell()
            for line in chunk.splitlines():
                yield f"[{f.label}] {line}" if len(files) > 1 else line
        if finished:
            return
        time.sleep(interval)
