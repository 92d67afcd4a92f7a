"""How far a training run is: optimizer steps logged / planned, and the pace (steps/s, tokens/s)
measured from the ranks' own step records (``steps.jsonl``: step, tokens seen and time of each
logged step), so that a single ``status`` shows a rate and an ETA without watching."""

from __future__ import annotations

import json

from s1slurm.launch.task_status import RunStatus
from s1slurm.stages.progress import FileCache, RunProgress, ShardProgress, last_json_lines
from s1slurm.train.job_plan import TrainPlan
from s1slurm.train.paths import TrainPaths
from s1slurm.train.recipe import total_steps


def planned_steps(paths: TrainPaths) -> int | None:
    """Optimizer steps of the whole training, once its dataset is tokenized (else None)."""
    try:
        stats = json.loads(paths.dataset_stats.read_text())
        plan = TrainPlan.from_manifest(paths.run)
    except Exception:  # no stats yet, or an unreadable plan: progress unknown, never an error
        return None
    r = plan.spec.recipe
    n = stats.get("used_examples") or stats.get("examples")
    return (
        total_steps(
            int(n), r.epochs, plan.layout.world_size, r.micro_batch_size, plan.accumulation, r.max_steps
        )
        if n
        else None
    )


def pace(records: list[dict]) -> dict[str, float]:
    """Steps and tokens per second between the first and the last record of the newest attempt in
    ``records`` (a resumed attempt starts its own clock); empty with fewer than two such records."""
    rows = [r for r in records if isinstance(r.get("time"), (int, float)) and "step" in r]
    if rows:
        rows = [r for r in rows if r.get("attempt") == rows[-1].get("attempt")]
    if len(rows) < 2 or rows[-1]["time"] <= rows[0]["time"]:
        return {}
    seconds = rows[-1]["time"] - rows[0]["time"]
    out = {"steps/s": (rows[-1]["step"] - rows[0]["step"]) / seconds}
    if isinstance(rows[-1].get("tokens_seen"), int) and isinstance(rows[0].get("tokens_seen"), int):
        out["tokens/s"] = (rows[-1]["tokens_seen"] - rows[0]["tokens_seen"]) / seconds
    return out


def training_progress(status: RunStatus, files: FileCache) -> RunProgress:
    """The training run's progress (one shard) with its rate and ETA from the step records."""
    paths = TrainPaths(status.run)
    total = files.memo.get(status.run.path)
    if total is None:
        total = planned_steps(paths)
        if total is not None:
            files.memo[status.run.path] = total
    records = files.read(paths.steps_log, last_json_lines) or []
    step = int(records[-1].get("step", 0)) if records else 0
    shards = {t.index: ShardProgress(total if (t.done and total) else step, total) for t in status.tasks}
    progress = RunProgress("steps", shards)
    if records and isinstance(records[-1].get("loss"), (int, float)):
        progress.note = f"loss {records[-1]['loss']:.3f}"
    rates = pace(records)
    if rates and not all(t.done for t in status.tasks):
        progress.rate, progress.rates = rates["steps/s"], rates
        if total is not None and progress.rate > 0:
            progress.eta_s = max(0, total - progress.done) / progress.rate
    return progress
