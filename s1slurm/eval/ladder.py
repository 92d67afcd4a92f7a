"""The budget ladder: every setting of a sweep from one thinking trace per sample.

With greedy decoding, or with seeded per-request sampling, a generation capped at ``B`` tokens
is the first ``B`` tokens of the same generation capped higher, and a run that suppresses the end
of thinking ``N`` times passes through the states of every run with fewer suppressions. So per
group of settings that share ``min_thinking_tokens`` and the ignore string, we trace thinking
once under the *dominant* setting (largest cap, most ignores) and :func:`~s1slurm.eval.forcing.replay`
that trace under each setting: the snapshot at each smaller budget and each forced continuation.
Only the short answer phase runs per snapshot, and identical snapshots (for example every budget
above a natural end) share one answer.

Requests are seeded per sample and per round (``derive_seed(sample seed, "think", round)``,
``derive_seed(sample seed, "answer")``), never by position in a batch, so the ladder sends
the engine exactly the contexts and seeds that naive runs send. The results equal
:func:`~s1slurm.eval.forcing.run_naive` token for token whenever the engine's continuation of a
context does not depend on the rest of its batch (see the engines' notes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from s1slurm.eval.engines.base import Engine
from s1slurm.eval.forcing import (
    AnswerJob,
    Forcing,
    Result,
    Sample,
    Thinking,
    make_result,
    replay,
    run_answers,
    trace,
)
from s1slurm.eval.records import BudgetSetting


def ladder_groups(settings: Sequence[BudgetSetting]) -> list[list[BudgetSetting]]:
    """Settings that one trace can serve: same ``min_thinking_tokens`` and ``ignore_string``."""
    groups: dict[tuple[int, str], list[BudgetSetting]] = defaultdict(list)
    for s in settings:
        groups[(s.min_thinking_tokens, s.ignore_string)].append(s)
    return list(groups.values())


def dominant(group: Sequence[BudgetSetting]) -> BudgetSetting:
    """The setting whose trace contains every other one of ``group``: largest cap, most ignores."""
    caps = [s.max_thinking_tokens for s in group]
    top_cap = None if any(c is None for c in caps) else max(c for c in caps if c is not None)
    first = group[0]
    return BudgetSetting(
        max_thinking_tokens=top_cap,
        min_thinking_tokens=first.min_thinking_tokens,
        num_ignore=max(s.num_ignore for s in group),
        ignore_string=first.ignore_string,
        method="ladder",
    )


def run_ladder(
    engine: Engine, forcing: Forcing, samples: Sequence[Sample], settings: Sequence[BudgetSetting]
) -> list[dict[str, Result]]:
    """Every setting for every sample; the same results as ``run_naive``, at about the cost of
    the largest setting alone. Returns, for each sample, its results by setting label.

    Engine time is shared out so that it adds up: a trace's time equally over the settings it
    serves, an answer's time equally over the settings whose snapshot it answers.
    """
    planned: list[tuple[int, BudgetSetting, Thinking, int, float]] = []
    for group in ladder_groups(settings):
        top = dominant(group)
        traces = trace(engine, forcing, samples, top)
        ignore = forcing.ignore_ids(top.ignore_string)
        for i, rounds in enumerate(traces):
            trace_time = sum(r.time_s for r in rounds)
            for setting in group:
                cap = forcing.cap(setting, len(samples[i].prompt))
                thinking = replay(rounds, setting, cap, ignore)
                if thinking.end is None:
                    raise RuntimeError(f"ladder trace of {top.label} ended before {setting.label} did")
                planned.append((i, setting, thinking, cap, trace_time / len(group)))

    # one answer per distinct snapshot of a sample
    jobs: list[AnswerJob] = []
    job_of: dict[tuple, int] = {}
    uses: dict[int, int] = defaultdict(int)
    keys = []
    for i, _, thinking, _, _ in planned:
        key = (i, tuple(thinking.ids), thinking.end)
        if key not in job_of:
            job_of[key] = len(jobs)
            jobs.append(AnswerJob(samples[i], thinking))
        uses[job_of[key]] += 1
        keys.append(key)
    answers = run_answers(engine, forcing, jobs)

    out: list[dict[str, Result]] = [{} for _ in samples]
    for (i, setting, thinking, cap, think_time), key in zip(planned, keys):
        j = job_of[key]
        ids, text, answer_time = answers[j]
        out[i][setting.label] = make_result(
            forcing,
            setting,
            thinking,
            cap,
            (list(ids), text, answer_time / uses[j]),
            think_time,
            ladder=True,
            prompt_tokens=len(samples[i].prompt),
        )
    return out
