"""Step ``traces``: the teacher writes a thinking trace and an attempt for each question.

Generation is the evaluation stage's budget forcing with no forcing at all (one setting: thinking
until the model ends it or reaches ``max_thinking_tokens``, then the answer phase) with the spec's
delimiters: s1's (assistant turn opened with ``<|im_start|>think``, the answer after
``<|im_start|>answer``) or, with ``preset: r1``, ``<think>`` ... ``</think>`` (thinking stops at
``</think>``; the answer is what follows). Each attempt is graded against the row's reference answer
with the evaluation grader (``teacher_correct``: True, False, or None without a reference), which the
select step's pre-selection reads (s1's ``isgeminicorrect``). Outputs that cannot be used are kept
and flagged with the reason (the select step's quality filter then drops them, counted):
``empty_thinking``, ``cut_off`` (thinking reached the cap), ``empty_attempt``, ``cut_off_attempt``,
``prompt_too_long``.

With ``from_fields`` the traces are the rows' own (:func:`field_records`): no model, the same
columns (token counts 0: nothing was generated) and the flags that still apply (``empty_thinking``,
``empty_attempt``); ``from_fields.output`` names one column holding whole outputs, split into
thinking and attempt with the delimiters (:meth:`DelimiterText.split`).
"""

from __future__ import annotations

from typing import Any

from s1slurm.curate.attempts import gold_answer
from s1slurm.curate.models import seed_for
from s1slurm.curate.spec import TracesConfig
from s1slurm.eval.benchmarks import Question
from s1slurm.eval.engines import Engine
from s1slurm.eval.forcing import Forcing, Sample, run_naive
from s1slurm.eval.grading import grade
from s1slurm.eval.records import BudgetSetting


def trace_records(engine: Engine, cfg: TracesConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per row: ``key`` (the row id), ``thinking``, ``attempt``, token counts, ``trace_flag``."""
    forcing = Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=cfg.delimiters.text(),
        max_answer_tokens=cfg.max_answer_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
    )
    setting = BudgetSetting(cfg.max_thinking_tokens, method="max")
    out: dict[str, dict[str, Any]] = {}
    samples = []
    for row in rows:
        prompt = forcing.prompt_ids(row["question"], cfg.system_prompt)
        room = (
            engine.max_model_len
            - len(prompt)
            - cfg.max_answer_tokens
            - len(forcing.answer_start)
            - len(forcing.final_answer)
        )
        if room < 1:
            out[row["id"]] = _record(cfg, row, "", "", 0, 0, "prompt_too_long")
        else:
            samples.append(Sample(key=row["id"], prompt=prompt, seed=seed_for(cfg, "traces", row["id"])))
    by_id = {r["id"]: r for r in rows}
    if samples:
        for sample, per_setting in zip(samples, run_naive(engine, forcing, samples, [setting])):
            r = per_setting[setting.label]
            thinking, attempt = r.thinking_text.strip(), r.answer_text.strip()
            if not thinking:
                flag = "empty_thinking"
            elif r.thinking.end == "budget":
                flag = "cut_off"
            elif not attempt:
                flag = "empty_attempt"
            elif len(r.answer_ids) >= cfg.max_answer_tokens:
                flag = "cut_off_attempt"
            else:
                flag = None
            key = str(sample.key)  # a row id (Sample keys are any hashable)
            out[key] = _record(
                cfg, by_id[key], thinking, attempt, len(r.thinking.ids), len(r.answer_ids), flag
            )
    return [out[row["id"]] for row in rows]


def teacher_correct(row: dict[str, Any], attempt: str) -> bool | None:
    """The attempt graded against the row's reference answer (None: no reference, or no attempt)."""
    gold = gold_answer(row)
    if gold is None or not attempt:
        return None
    return grade(Question(row["id"], row["question"], gold, "math"), attempt).correct


def field_records(cfg: TracesConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per row, its thinking and attempt read from the row keys ``cfg.from_fields`` names
    (or split from the whole output ``from_fields.output`` holds)."""
    fields = cfg.from_fields
    assert fields is not None
    split = cfg.delimiters.text().split
    out = []
    for row in rows:
        if fields.output is not None:
            thinking, attempt = split(str(row.get(fields.output) or ""))
        else:
            thinking = str(row.get(fields.thinking or "") or "").strip()
            attempt = str(row.get(fields.attempt or "") or "").strip()
        flag = "empty_thinking" if not thinking else "empty_attempt" if not attempt else None
        out.append(_record(cfg, row, thinking, attempt, 0, 0, flag))
    return out


def _record(
    cfg: TracesConfig,
    row: dict[str, Any],
    thinking: str,
    attempt: str,
    thinking_tokens: int,
    attempt_tokens: int,
    flag: str | None,
) -> dict[str, Any]:
    teacher = cfg.model or (cfg.from_fields.label() if cfg.from_fields else "")
    return {
        "key": row["id"],
        "thinking": thinking,
        "attempt": attempt,
        "teacher_thinking_tokens": thinking_tokens,
        "teacher_attempt_tokens": attempt_tokens,
        "trace_flag": flag,
        "teacher": teacher,
        "teacher_correct": teacher_correct(row, attempt) if flag is None else None,
    }


def merge(row: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """The row with its trace fields."""
    return {**row, **{k: v for k, v in rec.items() if k != "key"}}
