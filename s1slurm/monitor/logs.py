"""Where a task's log files are, and following them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from submitit.core.utils import JobPaths

from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir


def log_paths(run: RunDir, manifest: dict, task_index: int) -> list[Path]:
    """The log files of one task: submitit's per-rank stdout/stderr for SLURM, ours for local runs."""
    tasks = {t["index"]: t for t in manifest["tasks"]}
    if task_index not in tasks:
        raise ConfigError(f"no task {task_index} in this run", file=str(run.manifest_path), field="tasks",
                          expected=f"0..{len(tasks) - 1}")
    if manifest.get("executor") == "local":
        return [run.local_log_path(task_index)]
    job_id = tasks[task_index].get("job_id")
    if not job_id:
        return []
    n_ranks = manifest["profile"].get("nodes", 1) * manifest["profile"].get("tasks_per_node", 1)
    paths = []
    for rank in range(n_ranks):
        jp = JobPaths(run.submitit_dir, job_id=job_id, task_id=rank)
        paths += [jp.stdout, jp.stderr]
    return paths


def follow(paths: list[Path], stop: "callable", interval: float = 1.0) -> Iterator[str]:
    """Yield new lines of ``paths`` as they are written, until ``stop()`` is true."""
    offsets = {p: 0 for p in paths}
    while True:
        finished = stop()
        for p in paths:
            if not p.exists():
                continue
            with open(p, "r", errors="replace") as f:
                f.seek(offsets[p])
                chunk = f.read()
                offsets[p] = f.tell()
            for line in chunk.splitlines():
                yield f"{p.name}: {line}" if len(paths) > 1 else line
        if finished:
            return
        time.sleep(interval)
