"""Test data for curation: a small pool from the shared pools with planted benchmark questions,
and synthetic GPQA-like multiple-choice records (real GPQA text is never stored or shown)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SHARED_DATA

POOL = SHARED_DATA / "pool"
BENCH = SHARED_DATA / "benchmarks"
# OlympiadBench ids that share an 8-gram with AIME24/MATH500 by themselves (seen in the shared data).
NATURALLY_CONTAMINATED = {1709, 2063, 2312, 2330, 2427, 2454, 2534, 3018}

GPQA_LIKE = [
    {
        "Record ID": f"synthetic-{i}",
        "Question": text,
        "Correct Answer": right,
        "Incorrect Answer 1": "alpha",
        "Incorrect Answer 2": "beta",
        "Incorrect Answer 3": "gamma",
    }
    for i, (text, right) in enumerate(
        [
            (
                "A synthetic reactor vessel holds quintessence at seventeen kelvin while the observer counts "
                "every emitted zorbon; which quantity stays conserved throughout the whole experiment?",
                "charge",
            ),
            (
                "In a made-up lattice of purple crystals each node binds exactly five neighbours and vibrates at "
                "a frequency proportional to its mass; what is the resulting dispersion relation?",
                "linear",
            ),
        ]
    )
]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def clean_olympiad(n: int) -> list[dict]:
    """The first ``n`` OlympiadBench rows that are not contaminated by themselves."""
    return [r for r in read(POOL / "olympiadbench.jsonl") if r["id"] not in NATURALLY_CONTAMINATED][:n]


def planted_rows() -> tuple[list[dict], dict[int, tuple[str, str]]]:
    """Pool rows in OlympiadBench's schema whose questions are benchmark questions, disguised;
    returns them and, by their id, the benchmark and item id they come from."""
    aime = read(BENCH / "aime24.jsonl")
    math = read(BENCH / "math500.jsonl")
    a = aime[3]["problem"]
    m1 = math[10]["problem"]
    m2 = next(r for r in math[20:] if len(r["problem"].split()) > 40)
    words = m2["problem"].split()
    words[3], words[-3] = "SOMETHING", "ELSE"  # a few words changed
    gpqa = GPQA_LIKE[0]["Question"]
    planted = [
        (90001, "  ".join(a.upper().split()), ("aime24", str(aime[3]["id"]))),  # case + white space
        (90002, f"Warm-up from a practice sheet. {m1}\nGood luck!", ("math500", math[10]["unique_id"])),
        (90003, " ".join(words), ("math500", m2["unique_id"])),  # words changed
        (90004, f"Consider this. {gpqa}", ("gpqa_diamond", "synthetic-0")),
    ]
    rows = [
        {"id": i, "subfield": "Algebra", "question": q, "solution": ["s"], "final_answer": ["1"]}
        for i, q, _ in planted
    ]
    return rows, {i: where for i, _, where in planted}


def pool_file(tmp: Path, n_clean: int = 30) -> tuple[Path, dict[int, tuple[str, str]], dict]:
    """A JSON Lines pool: clean rows, planted rows, one near-duplicate of the first clean row
    (one word changed) and one exact duplicate of the second (other case and spacing)."""
    clean = clean_olympiad(n_clean)
    planted, where = planted_rows()
    near = dict(clean[0], id=95001)
    words = near["question"].split()
    words[len(words) // 2] = "CHANGED"
    near["question"] = " ".join(words)
    exact = dict(clean[1], id=95002, question="  " + clean[1]["question"].upper() + " ")
    return (
        write(tmp / "pool.jsonl", clean + planted + [near, exact]),
        where,
        {
            "clean": [r["id"] for r in clean],
            "near": (95001, clean[0]["id"]),
            "exact": (95002, clean[1]["id"]),
        },
    )


def gpqa_file(tmp: Path) -> Path:
    return write(tmp / "gpqa_synthetic.jsonl", GPQA_LIKE)


def against(tmp: Path) -> list[dict]:
    """The decontamination targets of the tests: AIME24, MATH500 and the synthetic GPQA."""
    return [
        {"name": "aime24", "path": str(BENCH / "aime24.jsonl")},
        {"name": "math500", "path": str(BENCH / "math500.jsonl")},
        {"name": "gpqa_diamond", "path": str(gpqa_file(tmp))},
    ]
