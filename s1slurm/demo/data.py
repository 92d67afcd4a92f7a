"""The demo's data files: a candidate pool for curation and a disjoint evaluation set.

Both are JSON Lines written by the package itself, so the demo needs no download and no
``../shared``. The pool has the columns a curation source maps (``id``, ``question``,
``solution`` = the worked trace, ``answer``, ``domain``, ``steps``); the evaluation set has
``id``, ``question``, ``answer``, ``domain`` and ``steps``, read by the eval stage as a ``jsonl``
benchmark. ``planted`` copies evaluation questions into the pool on purpose, for a decontamination
step to find (the demo itself trains on the pool as is, so it plants none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from s1slurm.core.atomic import atomic_write_text
from s1slurm.demo.tasks import Problem, all_problems, generate


@dataclass(frozen=True)
class DataFiles:
    """Where the demo's data was written."""

    pool: Path
    eval: Path
    pool_size: int
    eval_size: int
    planted: int  # evaluation questions copied into the pool (decontamination must drop them)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def pool_row(p: Problem, i: int) -> dict:
    return {
        "id": f"{p.domain}-{i:05d}",
        "question": p.question,
        "solution": p.trace,
        "answer": p.answer,
        "domain": p.domain,
        "steps": p.steps,
    }


def eval_row(p: Problem, i: int) -> dict:
    return {
        "id": f"eval-{p.domain}-{i:04d}",
        "question": p.question,
        "answer": p.answer,
        "domain": p.domain,
        "steps": p.steps,
    }


def write_data(folder: Path, *, eval_size: int, seed: int, planted: int = 0) -> DataFiles:
    """The evaluation set (balanced over domains and hop counts as drawn), then every other problem
    as the pool, shuffled, plus ``planted`` copies of evaluation questions."""
    folder.mkdir(parents=True, exist_ok=True)
    evals = generate(eval_size, seed=seed + 1)
    rest = len(all_problems()) - eval_size
    pool = generate(rest, seed=seed + 2, exclude={p.key for p in evals})
    # Spread the planted copies through the pool, as contamination would be.
    stride = max(len(pool) // max(planted, 1), 1)
    for j in range(planted):
        pool.insert(min(j * stride + stride // 2, len(pool)), evals[j % len(evals)])
    eval_path, pool_path = folder / "eval.jsonl", folder / "pool.jsonl"
    atomic_write_text(eval_path, _jsonl([eval_row(p, i) for i, p in enumerate(evals)]))
    atomic_write_text(pool_path, _jsonl([pool_row(p, i) for i, p in enumerate(pool)]))
    return DataFiles(pool_path, eval_path, len(pool), len(evals), planted)
