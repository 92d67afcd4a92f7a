"""Fixtures of the training tests: a 2-layer SmolLM2 folder and s1-format examples from the pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

POOL = SHARED_DATA / "pool" / "olympiadbench.jsonl"


@pytest.fixture(scope="session")
def small_model() -> Path:
    """SmolLM2-135M-Instruct cut to 2 layers (built once into the s1slurm cache, ~40 s)."""
    pytest.importorskip("transformers")
    from s1slurm.models.smollm2 import smollm2_folder

    return smollm2_folder(num_layers=2)


def s1_records(n: int, *, long: int = 2) -> list[dict]:
    """``n`` OlympiadBench problems in the s1K format (question, thinking_trajectories, attempt):
    ``n - long`` short ones and ``long`` long ones (so that a small block size truncates some)."""
    rows = [json.loads(line) for line in POOL.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: len(r["question"]) + sum(len(s) for s in r["solution"]))
    chosen = rows[: n - long] + rows[-long:] if long else rows[:n]
    return [
        {
            "question": r["question"],
            "thinking_trajectories": r["solution"],
            "attempt": ", ".join(r["final_answer"]),
            "source_id": r["id"],
        }
        for r in chosen
    ]


@pytest.fixture
def s1_jsonl(tmp_path: Path) -> Path:
    """8 s1-format examples (6 short, 2 long) as a JSON Lines file."""
    path = tmp_path / "s1-mini.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in s1_records(8)))
    return path
