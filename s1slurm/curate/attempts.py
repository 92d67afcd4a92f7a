"""Step ``attempts``: smaller models answer each question; each answer is graded locally.

s1 paper section 2 (difficulty): Qwen2.5-7B-Instruct and Qwen2.5-32B-Instruct answer every question
and a question either of them solves is too easy. s1 graded with Claude (data/featurization.py,
``do_grading`` with data/grading.txt); here the evaluation stage's grader (math-verify, no paid API)
decides, and an optional judge model (same engine) is asked the s1 question -- is the attempt
correct, answer Yes or No on the last line -- for answers the grader marks wrong or cannot grade,
against the row's worked solution as s1 did (or its answer when it has no solution).

The prompt asks for a final \boxed{} answer (s1 gave the bare question: its grader, Claude, read the
whole attempt; the local grader needs an answer it can extract). A question whose attempts nobody
could grade (no reference answer, no judge verdict) is marked ``graded: false``; the s1 selection
drops it, as s1's data/filter.ipynb dropped rows whose grade was missing.

Records are keyed ``<model>::<row id>``: a shard runs one model over all its questions, then the
next, so each model is loaded once per shard, and a resumed shard skips what each model did.
"""

from __future__ import annotations

import json
from typing import Any

from s1slurm.curate.models import chat, chat_ids, seed_for
from s1slurm.curate.spec import AttemptsConfig
from s1slurm.eval.benchmarks import MATH_TEMPLATE, Question
from s1slurm.eval.engines import Engine
from s1slurm.eval.grading import extract_answer, grade

JUDGE_SYSTEM = (
    "You are grading an attempt at a problem against the correct answer. Explain briefly, then "
    "end your response with a new line holding only Yes (the attempt's final answer is "
    "correct) or No."
)


def key(model: str, row_id: str) -> str:
    return f"{model}::{row_id}"


def _answer(row: dict[str, Any]) -> str | None:
    """The row's own final answer (an answer of 0 is one)."""
    return str(row["answer"]) if row.get("answer") not in (None, "") else None


def gold_answer(row: dict[str, Any]) -> str | None:
    """The answer an attempt is graded against: the row's ``answer``, else the final answer of its
    worked solution (its last \\boxed{}, or an ``Answer:`` line: NuminaMath-CoT's solutions end so)."""
    if (answer := _answer(row)) is not None:
        return answer
    return extract_answer(row["solution"], "math") if row.get("solution") else None


def attempt_records(
    engine: Engine, cfg: AttemptsConfig, model: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One graded attempt of ``model`` per row."""
    prompts = [chat_ids(engine, MATH_TEMPLATE.replace("{question}", r["question"])) for r in rows]
    outs = chat(
        engine,
        prompts,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seeds=[seed_for(cfg, "attempts", model, r["id"]) for r in rows],
    )
    records = []
    for row, out in zip(rows, outs):
        rec: dict[str, Any] = {
            "key": key(model, row["id"]),
            "id": row["id"],
            "model": model,
            "answer": out["text"],
            "tokens": out["tokens"],
            "cut_off": out["cut_off"],
        }
        if out["error"]:
            rec.update(correct=None, extracted=None, grade_error=out["error"])
        elif (gold := gold_answer(row)) is None:
            rec.update(correct=None, extracted=None, grade_error="no reference answer")
        else:
            g = grade(Question(row["id"], row["question"], gold, "math"), out["text"])
            rec.update(correct=g.correct, extracted=g.extracted, grade_error=g.error)
        records.append(rec)
    return records


def reference(row: dict[str, Any]) -> str | None:
    """What the judge compares an attempt with: the worked solution (s1's data/grading.txt fills
    "Correct answer" with the solution), else the final answer; None when the row has neither."""
    return row.get("solution") or _answer(row)


def judge_records(
    engine: Engine, cfg: AttemptsConfig, records: list[dict[str, Any]], rows: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The judge's verdict for attempts the grader did not accept (those with a reference)."""
    todo = [r for r in records if r["correct"] is not True and reference(rows[r["id"]])]
    prompts = [
        chat_ids(
            engine,
            f"## Problem\n{rows[r['id']]['question']}\n\n## Attempt\n{r['answer']}\n\n"
            f"## Correct answer\n{reference(rows[r['id']])}",
            JUDGE_SYSTEM,
        )
        for r in todo
    ]
    outs = chat(
        engine,
        prompts,
        max_tokens=cfg.max_tokens,
        temperature=0.0,
        seeds=[seed_for(cfg, "judge", r["key"]) for r in todo],
    )
    verdicts = []
    for r, out in zip(todo, outs):
        last = out["text"].strip().splitlines()[-1].strip().strip("*.").lower() if out["text"].strip() else ""
        verdict = True if last == "yes" else False if last == "no" else None
        verdicts.append(
            {
                "key": "judge::" + r["key"],
                "id": r["id"],
                "model": r["model"],
                "judge": cfg.judge,
                "verdict": verdict,
            }
        )
    return verdicts


def merge(row: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with ``attempts`` (JSON text, one entry per model), ``solved_by`` (the models whose
    answer the grader, or else the judge, accepted) and ``graded``: whether its difficulty is known
    (a model solved it, or every attempt got a verdict from the grader or the judge)."""
    attempts = [r for r in records if not r["key"].startswith("judge::")]
    verdicts = {r["model"]: r["verdict"] for r in records if r["key"].startswith("judge::")}
    solved = sorted(
        {r["model"] for r in attempts if r["correct"] is True or verdicts.get(r["model"]) is True}
    )
    graded = bool(solved) or all(
        r["correct"] is not None or verdicts.get(r["model"]) is not None for r in attempts
    )
    summary = [
        {k: r[k] for k in ("model", "correct", "extracted", "grade_error", "tokens", "cut_off")}
        | ({"judge": verdicts[r["model"]]} if r["model"] in verdicts else {})
        for r in attempts
    ]
    return {**row, "attempts": json.dumps(summary, ensure_ascii=False), "solved_by": solved, "graded": graded}
