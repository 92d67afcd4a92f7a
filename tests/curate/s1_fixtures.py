"""Tiny synthetic stand-ins for every hub dataset jobs/curate-s1k.yaml reads, shaped like the columns
s1's data/collect_data.py (and data/add_aime.py) reads from each; the texts are made up (no GPQA
text, nothing from the network). :func:`serve` answers ``load_table`` calls with them."""

from __future__ import annotations

import random
from typing import Any

from s1slurm.core.dataload import Table

_WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "po", "ra", "si", "tu", "ve", "zo") for b in range(300)]


def text(tag: str, i: int, words: int = 14) -> str:
    """A made-up question, unique per (tag, i): no 8-gram in common with any other."""
    rng = random.Random(f"{tag}/{i}")
    return f"Synthetic {tag} item {i}: " + " ".join(rng.choices(_WORDS, k=words)) + "?"


def _rows(n: int, make: Any) -> list[dict[str, Any]]:
    return [make(i) for i in range(n)]


def tables() -> dict[tuple[str, str | None, str], list[dict[str, Any]]]:
    """(hub id, config, split) -> records."""
    t: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
    t["simplescaling/openaimath", None, "train"] = _rows(
        6,
        lambda i: {
            "problem": text("math", i),
            "solution": f"Work. $\\boxed{{{i}}}$",
            "answer": str(i),
            "subject": ["Algebra", "Geometry"][i % 2],
            "level": f"Level {i % 5 + 1}",
            "unique_id": f"train/m/{i}.json",
        },
    )
    for subject in ("Math", "Physics", "Chemistry", "Biology", "Geography", "Astronomy", "CS"):
        for split in ("test", "val"):
            t["GAIR/OlympicArena", subject, split] = [
                {
                    "id": f"{subject}_{split}_{i}",
                    "problem": text(f"arena-{subject}-{split}", i),
                    "solution": "s",
                    "answer": ["1"],
                    "subject": subject,
                    "language": lang,
                    "modality": modality,
                }
                for i, (lang, modality) in enumerate(
                    [("EN", "text-only"), ("ZH", "text-only"), ("EN", "multi-modal")]
                )
            ]
    t["TIGER-Lab/TheoremQA", None, "test"] = _rows(
        3,
        lambda i: {
            "Question": text("theoremqa", i),
            "Answer": str(i + 2),
            "Answer_type": "integer",
            "Picture": None if i < 2 else "<image>",
        },
    )
    t["AI-MO/NuminaMath-CoT", None, "train"] = _rows(
        6,
        lambda i: {
            "source": ["aops_forum", "olympiads", "cn_k12"][i % 3],
            "problem": text("numina", i),
            "solution": f"So $\\boxed{{{i}}}$.",
            "messages": [],
        },
    )
    t["simplescaling/numinamath_500", None, "train"] = [{"problem": text("numina", 1), "solution": "x"}]
    omni = _rows(
        3,
        lambda i: {
            "domain": ["Mathematics -> Algebra -> Equations"],
            "difficulty": 7.0,
            "problem": text("omni", i),
            "solution": "s",
            "answer": str(i),
            "source": "imo",
        },
    )
    # an olympiad problem that repeats MATH's first problem almost whole: s1's source-by-source
    # 8-gram rule drops it
    omni.append({**omni[0], "problem": "Restated: " + text("math", 0)})
    t["KbsdJames/Omni-MATH", None, "test"] = omni
    for split in ("test", "validation"):
        t["OpenDFM/SciEval", None, split] = [
            {
                "id": f"{split}-{i}",
                "question": text(f"scieval-{split}", i) + "\nOptimal solvent:\n\nAnswer:",
                "answer": None if i == 3 else ["B"],
                "category": "chemistry",
                "type": "multiple-choice",
                "task_name": task,
                "topic": "x",
                "ability": "y",
            }
            for i, task in enumerate(["SocraticQA", "reagent selection", "MedQA", "PubMedQA", "SocraticQA"])
        ]
    for config, qtype, subject in (
        ("OE_TO_maths_en_COMP", "Open-ended", "Math"),
        ("OE_TO_physics_en_COMP", "Open-ended", "Physics"),
        ("TP_TO_maths_en_COMP", "Theorem proof", "Math"),
        ("TP_TO_physics_en_COMP", "Theorem proof", "Physics"),
    ):
        t["Hothan/OlympiadBench", config, "train"] = [
            {
                "id": 100 * len(config) + i,
                "question": text(f"olympiad-{config}", i),
                "solution": ["Because.", "Also."],
                "final_answer": ["3"] if qtype == "Open-ended" else None,
                "context": None,
                "question_type": qtype,
                "subject": subject,
                "subfield": "Algebra",
            }
            for i in range(2)
        ]
    t["daman1209arora/jeebench", None, "test"] = _rows(
        3,
        lambda i: {
            "question": text("jee", i),
            "gold": "A",
            "subject": ["math", "phy", "chem"][i],
            "description": "JEE Adv",
            "index": i,
            "type": "MCQ",
        },
    )
    for config in ("sat_en", "sat_math", "lsat_ar", "lsat_lr", "lsat_rc", "logiqa"):
        for split in ("test", "few_shot"):
            t["baber/agieval", config, split] = [
                {
                    "passage": "" if i else f"Passage {config} {split}.",
                    "question": text(f"agi-{config}-{split}", i),
                    "options": ["(A)one", "(B)two"],
                    "label": "A",
                    "solution": "A",
                }
                for i in range(2)
            ]
    for split in ("test", "few_shot"):
        t["baber/agieval", "aqua_rat", split] = [
            {"question": text(f"aqua-{split}", 0), "options": ["(A)1"], "label": "A", "solution": "A"}
        ]
        t["baber/agieval", "math_agieval", split] = [
            {"question": text(f"agimath-{split}", i), "solution": "s", "answer": "1", "level": level}
            for i, level in enumerate([5, 4])
        ]
    t["simplescaling/s1-prob", None, "train"] = _rows(
        2, lambda i: {"question": text("prob", i), "solution": "1/2"}
    )
    gpqa = [
        {
            "Record ID": f"rec{i}",
            "Question": text("gpqa", i),
            "Explanation": "Because.",
            "Correct Answer": "right",
            "Incorrect Answer 1": "a",
            "Incorrect Answer 2": "b",
            "Incorrect Answer 3": "c",
            "High-level domain": ["Physics", "Chemistry", "Biology"][i % 3],
        }
        for i in range(4)
    ]
    t["Idavidrein/gpqa", "gpqa_extended", "train"] = gpqa
    t["Idavidrein/gpqa", "gpqa_diamond", "train"] = [gpqa[3]]  # extended minus Diamond: rec3 is left out
    t["0xharib/xword1", None, "train"] = _rows(
        5,
        lambda i: {
            "instruction": "Solve the clue.",
            "input": f"### Instruction: solve\n### Clue: {text('xword', i, 6)} (5)",
            "output": "ANSWR",
        },
    )
    t["codegenning/usacobench_formatted", None, "test"] = _rows(
        2, lambda i: {"question": "  " + text("usaco", i) + "  ", "name": f"p{i}", "tests": []}
    )
    t["simplescaling/s1-teasers", None, "train"] = _rows(
        2, lambda i: {"Question": text("teaser", i), "Answer": "7"}
    )
    for version in ("release_v1", "release_v2", "release_v3"):
        t["livecodebench/code_generation_lite", version, "test"] = [
            {
                "question_title": f"t{i}",
                "question_content": text(f"lcb-{version}", i),
                "platform": "atcoder",
                "difficulty": diff,
                "contest_date": "2023-05-01",
            }
            for i, diff in enumerate(["hard", "easy"])
        ]
    t["qq8933/AIME_1983_2024", None, "train"] = [
        {
            "ID": f"{year}-I-{i}",
            "Year": year,
            "Problem Number": i,
            "Question": text(f"aime-{year}", i),
            "Answer": str(100 + i),
            "Part": "I",
        }
        for year in (1990, 2022, 2023)
        for i in (1, 2)
    ]
    return t


def serve(data: dict[tuple[str, str | None, str], list[dict[str, Any]]]) -> Any:
    """A stand-in for :func:`s1slurm.core.dataload.load_table` that answers from ``data``."""

    def load_table(
        name: str,
        *,
        field: str,
        file: str | None = None,
        config: str | None = None,
        split: str = "train",
        limit: int | None = None,
        **_: Any,
    ) -> Table:
        records = data[name, config, split][:limit]
        columns = list(dict.fromkeys(k for r in records for k in r))
        return Table(records, columns, f"{name} ({config}, {split})", None)

    return load_table
