"""Per-shard progress read from the shards' own outputs, and throughput over time.

What a unit of work is depends on the stage: evaluation records written / planned (from the
manifest's frozen ``eval_plan``), training optimizer steps logged / planned, otherwise shards done.
Files are re-read only when their size changed, so a refresh over 10,000 shards costs a stat each.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.monitor.status import RunStatus


@dataclass(frozen=True)
class ShardProgress:
    """Units done out of units planned for one shard (``total`` None: not known yet)."""

    done: int
    total: int | None


@dataclass
class RunProgress:
    """A run's progress: the unit, per-shard figures, and the totals."""

    unit: str
    shards: dict[int, ShardProgress]            # task index -> progress
    done: int = 0
    total: int | None = 0
    rate: float | None = None                   # units per second, over the recent past
    eta_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "done": self.done, "total": self.total, "rate_per_s": self.rate,
                "eta_s": self.eta_s}


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _last_json_line(path: Path) -> dict | None:
    """The last complete JSON line of a file (reads only its end)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 8192))
        lines = f.read().splitlines()
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill, or the cut start of the window
        if isinstance(value, dict):
            return value
    return None


def _eval_totals(manifest: dict) -> dict[str, int]:
    """shard id -> records planned, from the manifest's frozen evaluation plan."""
    plan = manifest.get("eval_plan") or {}
    per_question = len(plan.get("settings") or [1]) * int(plan.get("samples") or 1)
    out = {}
    for label, bench in (plan.get("benchmarks") or {}).items():
        ids = bench.get("question_ids") or []
        count = int(bench.get("shards") or 1)
        for i in range(count):
            shard = Shard(label, i, count)
            out[shard.id] = len(shard.select(ids)) * per_question
    return out


def _train_total(run: RunDir) -> int | None:
    """Optimizer steps of the whole training, once its dataset is tokenized (else None)."""
    try:
        from s1slurm.train.paths import TrainPaths
        from s1slurm.train.plan import TrainPlan
        from s1slurm.train.recipe import total_steps

        paths = TrainPaths(run)
        stats = json.loads(paths.dataset_stats.read_text())
        plan = TrainPlan.from_manifest(run)
        r = plan.spec.recipe
        n = stats.get("used_examples") or stats.get("examples")
        return total_steps(int(n), r.epochs, plan.layout.world_size, r.micro_batch_size, plan.accumulation,
                           r.max_steps) if n else None
    except Exception:  # no stats yet, or an unreadable plan: progress unknown, never an error
        return None


@dataclass
class ProgressReader:
    """Reads progress for runs across refreshes, caching per file size, and keeps throughput history."""

    window_s: float = 120.0
    _cache: dict[Path, tuple[int, Any]] = field(default_factory=dict)
    _history: dict[Path, deque] = field(default_factory=dict)
    _plans: dict[Path, Any] = field(default_factory=dict)

    def _cached(self, path: Path, read) -> Any:
        try:
            size = path.stat().st_size
        except OSError:
            return None
        hit = self._cache.get(path)
        if hit and hit[0] == size:
            return hit[1]
        try:
            value = read(path)
        except (OSError, ValueError):
            return None
        self._cache[path] = (size, value)
        return value

    def read(self, status: RunStatus) -> RunProgress:
        run, manifest = status.run, status.manifest
        stage = manifest.get("stage")
        shards: dict[int, ShardProgress] = {}
        if stage == "eval":
            totals = self._plans.get(run.path)
            if totals is None:
                totals = self._plans[run.path] = _eval_totals(manifest)
            from s1slurm.eval.records import RECORDS_FILE

            for t in status.tasks:
                total = totals.get(t.shard_id)
                if t.done:
                    shards[t.index] = ShardProgress(total or 0, total)
                    continue
                n = self._cached(run.outputs_dir / t.shard_id / RECORDS_FILE, _count_lines) or 0
                shards[t.index] = ShardProgress(min(n, total) if total is not None else n, total)
            progress = RunProgress("records", shards)
        elif stage == "train":
            from s1slurm.train.paths import TrainPaths

            paths = TrainPaths(run)
            total = self._plans.get(run.path)
            if total is None:
                total = _train_total(run)
                if total is not None:
                    self._plans[run.path] = total
            for t in status.tasks:
                last = self._cached(paths.steps_log, _last_json_line)
                step = int(last.get("step", 0)) if last else 0
                shards[t.index] = ShardProgress(total if (t.done and total) else step, total)
            progress = RunProgress("steps", shards)
        else:
            for t in status.tasks:
                shards[t.index] = ShardProgress(int(t.done), 1)
            progress = RunProgress("shards", shards)
        progress.done = sum(s.done for s in shards.values())
        totals_known = [s.total for s in shards.values()]
        progress.total = None if any(x is None for x in totals_known) else sum(totals_known)  # type: ignore[arg-type]
        self._rate(run.path, progress)
        return progress

    def _rate(self, key: Path, progress: RunProgress) -> None:
        """Throughput over the last ``window_s`` seconds and the time left at that pace."""
        now = time.time()
        history = self._history.setdefault(key, deque())
        history.append((now, progress.done))
        while len(history) > 2 and now - history[0][0] > self.window_s:
            history.popleft()
        t0, d0 = history[0]
        if now - t0 >= 1.0 and progress.done > d0:
            progress.rate = (progress.done - d0) / (now - t0)
            if progress.total is not None:
                progress.eta_s = max(0, progress.total - progress.done) / progress.rate
