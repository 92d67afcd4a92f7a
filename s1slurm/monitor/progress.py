"""Progress of runs across refreshes: each run's stage reports how far it is (its unit of work and
per-shard figures, see :meth:`~s1slurm.stages.base.Stage.progress`); this keeps the files it reads
cached and measures throughput over time where the stage's own records do not time the work.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from s1slurm.launch.task_status import RunStatus
from s1slurm.stages import stage_of
from s1slurm.stages.progress import FileCache, RunProgress, ShardProgress

__all__ = ["ProgressReader", "RunProgress", "ShardProgress"]


@dataclass
class ProgressReader:
    """Reads progress for runs across refreshes, caching per file size, and keeps throughput history."""

    window_s: float = 120.0
    files: FileCache = field(default_factory=FileCache)
    _history: dict[Path, deque] = field(default_factory=dict)

    def read(self, status: RunStatus) -> RunProgress:
        progress = stage_of(status.run, status.manifest).progress(status, self.files)
        self._rate(status.run.path, progress)
        return progress

    def _rate(self, key: Path, progress: RunProgress) -> None:
        """Throughput over the last ``window_s`` seconds and the time left at that pace (unless the
        stage measured them from its own records)."""
        now = time.time()
        history = self._history.setdefault(key, deque())
        history.append((now, progress.done))
        while len(history) > 2 and now - history[0][0] > self.window_s:
            history.popleft()
        if progress.rate is not None:
            return
        t0, d0 = history[0]
        if now - t0 >= 1.0 and progress.done > d0:
            progress.rate = (progress.done - d0) / (now - t0)
            if progress.total is not None:
                progress.eta_s = max(0, progress.total - progress.done) / progress.rate
