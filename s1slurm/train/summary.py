"""Records of a training run: one per attempt, the requeue counters, and ``train_summary.json``."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json
from s1slurm.train.curves import write_curves
from s1slurm.train.paths import TrainPaths


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def checkpoint_step(path: Path | str | None) -> int | None:
    m = re.search(r"checkpoint-(\d+)$", str(path)) if path else None
    return int(m.group(1)) if m else None


def write_attempt(
    paths: TrainPaths,
    attempt: str,
    plan: Any,
    *,
    outcome: str,
    started: float,
    resume: Path | None,
    state: Any,
    steps: Any,
    signal_at: float | None,
    signal_name: str | None = None,
    timed_saves: list[int] | None = None,
) -> dict:
    """What this attempt did (rank 0 writes it when the attempt ends)."""
    tokens_end = int(state.num_input_tokens_seen or 0)
    tokens = tokens_end - steps.tokens_start
    train_time = (
        (steps.train_ended - steps.train_started) if steps.train_ended and steps.train_started else 0.0
    )
    world = plan.layout.world_size
    record = {
        "attempt": attempt,
        "job_id": os.environ.get("SLURM_JOB_ID"),
        "restart_count": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
        "outcome": outcome,
        "started": started,
        "ended": time.time(),
        "resumed_from": str(resume) if resume else None,
        "resumed_step": checkpoint_step(resume),
        "first_step": steps.first_step,
        "last_step": int(state.global_step),
        "steps_done": int(state.global_step) - steps.start_step,
        "max_steps": int(state.max_steps),
        "epoch": state.epoch,
        "tokens_seen_start": steps.tokens_start,
        "tokens_seen_end": tokens_end,
        "train_time_s": train_time,
        "world_size": world,
        "tokens_per_s_per_gpu": tokens / train_time / world if train_time > 0 else None,
        "signal_received_at": signal_at,
        "signal": signal_name,
        "timed_checkpoints": timed_saves or [],
        "peak_gpu_memory_gb": _peak_gpu_memory_gb(),
    }
    atomic_write_json(paths.attempt_record(attempt), record)
    return record


def _peak_gpu_memory_gb() -> float | None:
    """Peak memory torch allocated on this rank's GPU (None without CUDA)."""
    try:
        import torch

        if torch.cuda.is_available():
            return round(torch.cuda.max_memory_allocated() / 2**30, 3)
    except ImportError:
        pass
    return None


def read_attempts(paths: TrainPaths) -> list[dict]:
    """Every attempt record, in the order they started."""
    records = [_read_json(p, None) for p in paths.attempts_dir.glob("*.json")]
    return sorted((r for r in records if r), key=lambda r: r["started"])


def read_requeues(paths: TrainPaths) -> dict:
    return _read_json(
        paths.requeues,
        {"timeouts": 0, "preemptions": 0, "total": 0, "events": [], "not_requeued": [], "new_counts": []},
    )


def _write_requeues(paths: TrainPaths, data: dict) -> dict:
    for key in ("not_requeued", "new_counts"):
        data.setdefault(key, [])
    atomic_write_json(paths.requeues, data)
    return data


def requeues_of_job(data: dict, job_id: str | None) -> int:
    """Requeues SLURM accepted for this job id (``max_requeues`` counts per job: a resumed run is a
    new job and starts a new count)."""
    return sum(1 for e in data["events"] if e.get("job_id") == job_id)


def record_requeue(paths: TrainPaths, kind: str, event: dict) -> dict:
    """Count one timeout or preemption whose requeue SLURM accepted (rank-0 task, after scontrol)."""
    if kind not in ("timeout", "preemption"):
        raise ValueError(f"unknown requeue kind {kind!r}")
    data = read_requeues(paths)
    data["timeouts" if kind == "timeout" else "preemptions"] += 1
    data["total"] = data["timeouts"] + data["preemptions"]
    data["events"].append({"kind": kind, "time": time.time(), **event})
    return _write_requeues(paths, data)


def record_not_requeued(paths: TrainPaths, kind: str, event: dict) -> dict:
    """A stop that did not end in a requeue (max_requeues reached, or SLURM refused): not counted."""
    data = read_requeues(paths)
    data.setdefault("not_requeued", []).append({"kind": kind, "time": time.time(), **event})
    return _write_requeues(paths, data)


def start_new_count(paths: TrainPaths, job_id: str, max_requeues: int) -> dict | None:
    """When a new job (``s1slurm resume``) follows one that used up ``max_requeues``: record that the
    count starts again, and return the note (None when there is nothing to say)."""
    data = read_requeues(paths)
    if not data["events"] or any(n.get("job_id") == job_id for n in data.get("new_counts", [])):
        return None
    previous = data["events"][-1].get("job_id")
    used = requeues_of_job(data, previous)
    if previous == job_id or used < max_requeues:
        return None
    note = {"job_id": job_id, "previous_job_id": previous, "previous_requeues": used, "time": time.time()}
    data.setdefault("new_counts", []).append(note)
    _write_requeues(paths, data)
    return note


def loss_curve(paths: TrainPaths) -> list[dict]:
    """Logged steps, one per step: a step logged again after a resume replaces the earlier value."""
    by_step: dict[int, dict] = {}
    try:
        lines = paths.steps_log.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        by_step[int(row["step"])] = {
            k: row.get(k) for k in ("step", "loss", "learning_rate", "grad_norm", "attempt")
        }
    return [by_step[s] for s in sorted(by_step)]


def build_summary(paths: TrainPaths, plan: Any) -> dict:
    """``train_summary.json`` from the run's records."""
    attempts = read_attempts(paths)
    stats = _read_json(paths.dataset_stats, {})
    last = attempts[-1] if attempts else {}
    tokens_trained = sum(a["tokens_seen_end"] - a["tokens_seen_start"] for a in attempts)
    train_time = sum(a["train_time_s"] for a in attempts)
    world = plan.layout.world_size
    requeues = read_requeues(paths)
    r = plan.spec.recipe
    return {
        "model": plan.spec.model,
        "output_model": str(paths.model_dir),
        "data": plan.spec.data.source,
        "steps": last.get("last_step"),
        "max_steps": last.get("max_steps"),
        "epochs": last.get("epoch"),
        "planned_epochs": r.epochs,
        "examples": stats.get("examples"),
        "used_examples": stats.get("used_examples"),
        "truncated_examples": stats.get("truncated_examples"),
        "dropped_examples": stats.get("dropped_examples"),
        "block_size": r.block_size,
        "dataset_tokens": stats.get("total_tokens"),
        "tokens_seen": last.get("tokens_seen_end"),
        "loss_curve": loss_curve(paths),
        "wall_time_s": (last["ended"] - attempts[0]["started"]) if attempts else None,
        "train_time_s": train_time,
        "tokens_per_s_per_gpu": tokens_trained / train_time / world if train_time > 0 else None,
        "layout": plan.layout.to_dict(),
        "global_batch_size": r.global_batch_size,
        "micro_batch_size": r.micro_batch_size,
        "gradient_accumulation": plan.accumulation,
        "peak_gpu_memory_gb": max(
            (a["peak_gpu_memory_gb"] for a in attempts if a.get("peak_gpu_memory_gb") is not None),
            default=None,
        ),
        "requeues": requeues,
        "attempts": attempts,
    }


def write_summary(paths: TrainPaths, plan: Any) -> dict:
    """``train_summary.json`` and the training curves plot (``training_curves.png``) beside it."""
    summary = build_summary(paths, plan)
    summary["curves_plot"] = str(write_curves(paths, summary["loss_curve"], plan.spec.model))
    atomic_write_json(paths.summary, summary)
    return summary
