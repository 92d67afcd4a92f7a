"""Every test-time method of a sweep, one entry point: :func:`run_settings`.

The s1 paper (section 4, Table 3) compares budget forcing with four other ways to control how
long a model thinks. Here each is a ``method`` of the sweep and runs on the same engines and the
same forcing rules (:mod:`s1slurm.eval.forcing`):

* budget forcing (``max``, ``ignore``, ``min``, ``none``): the bare prompt, the budget ladder (or
  naive runs);
* token-conditional control (``token_conditional``, ``token_conditional_forced``): the budget is
  stated in the prompt; the forced variant also caps thinking at it. Both share a prompt, so one
  ladder serves both;
* class-conditional control (``class_conditional``): a generic short/long instruction;
* step-conditional control (``step_conditional``, ``step_conditional_forced``): thinking runs in
  steps of ``step_tokens`` tokens, and after each step the steps left are stated in the thinking
  (:func:`run_steps`); the forced variant ends thinking when no step is left;
* rejection sampling (``rejection``): thinking is sampled again, with a new seed, until it ends
  naturally within the budget, at most ``max_tries`` times (:func:`run_rejection`).

Settings whose prompts differ are different samples to the engine; within one prompt, the ladder
applies as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

from s1slurm.eval.engines.base import Engine, Request, StopScanner, derive_seed
from s1slurm.eval.forcing import (AnswerJob, Forcing, Result, Round, Sample, Thinking, make_result,
                                  replay, run_answers, run_naive, trace)
from s1slurm.eval.ladder import run_ladder
from s1slurm.eval.prompts import ConditionPrompts, conditioned, step_marker
from s1slurm.eval.records import BudgetSetting


@dataclass(frozen=True)
class Item:
    """One sample to evaluate: the caller's key, the benchmark's user message and the seed."""

    key: Hashable
    question: str
    seed: int


def runner_of(setting: BudgetSetting) -> str:
    """Which loop runs a setting: ``steps``, ``rejection`` or ``forcing`` (ladder / naive)."""
    if setting.stated_steps is not None:
        return "steps"
    if setting.max_tries:
        return "rejection"
    return "forcing"


def run_settings(engine: Engine, forcing: Forcing, items: Sequence[Item],
                 settings: Sequence[BudgetSetting], *, system_prompt: str | None = None,
                 prompts: ConditionPrompts | None = None, ladder: bool = True) -> list[dict[str, Result]]:
    """Every setting for every item; for each item, its results by setting label."""
    out: list[dict[str, Result]] = [{} for _ in items]
    groups: dict[tuple, list[BudgetSetting]] = {}
    for s in settings:
        groups.setdefault((runner_of(s), s.prompt_variant), []).append(s)
    for (runner, _variant), group in groups.items():
        samples = [Sample(key=item.key, seed=item.seed, prompt=forcing.prompt_ids(
            conditioned(item.question, group[0], prompts), system_prompt)) for item in items]
        if runner == "forcing":
            per_sample = (run_ladder if ladder else run_naive)(engine, forcing, samples, group)
        else:
            per_sample = [{} for _ in samples]
            for s in group:
                results = (run_steps(engine, forcing, samples, s, prompts) if runner == "steps"
                           else run_rejection(engine, forcing, samples, s))
                for i, r in enumerate(results):
                    per_sample[i][s.label] = r
        for i, results in enumerate(per_sample):
            for label, r in results.items():
                r.extra["prompt_variant"] = group[0].prompt_variant[0]
                out[i][label] = r
    return out


# ------------------------------------------------------------------------- step-conditional control

@dataclass
class _StepState:
    ids: list[int]
    steps: int = 0          # steps thought so far
    end: str | None = None
    time_s: float = 0.0
    rounds: int = 0


def run_steps(engine: Engine, forcing: Forcing, samples: Sequence[Sample], setting: BudgetSetting,
              prompts: ConditionPrompts | None = None) -> list[Result]:
    """Step-conditional thinking: rounds of at most ``step_tokens`` tokens; after a step without
    a natural end, the steps left are stated (the marker counts as thinking, like ``Wait``). With
    a cap (the forced variant) thinking ends by budget when no step is left; without, thinking
    continues past the last step in one round up to the room in the context."""
    stated = int(setting.stated_steps or 0)
    scanner = StopScanner(engine.tokenizer, forcing.thinking_stop)
    caps = [forcing.cap(setting, len(s.prompt)) for s in samples]
    states = [_StepState([]) for _ in samples]
    active = [i for i, c in enumerate(caps) if c > 0]
    for i, c in enumerate(caps):
        if c <= 0:
            states[i].end = "budget"
    while active:
        requests = []
        for i in active:
            st = states[i]
            left = caps[i] - len(st.ids)
            size = min(setting.step_tokens, left) if st.steps < stated else left
            requests.append(Request(prompt=samples[i].prompt + tuple(st.ids), max_tokens=size,
                                    stop=forcing.thinking_stop, temperature=forcing.temperature,
                                    top_p=forcing.top_p,
                                    seed=derive_seed(samples[i].seed, "think", st.rounds)))
        still = []
        for i, gen in zip(active, engine.generate(requests)):
            st = states[i]
            st.rounds += 1
            st.time_s += gen.time_s
            match = scanner.first(gen.token_ids)
            if match is not None:
                st.ids += gen.token_ids[:match.cut]
                st.end = "natural"
                continue
            st.ids += gen.token_ids
            st.steps += 1
            if len(st.ids) >= caps[i] or st.steps > stated:
                st.end = "budget"
                continue
            left = stated - st.steps
            if left == 0 and setting.max_thinking_tokens is not None:
                st.end = "budget"   # the forced variant: no step left
                continue
            if left > 0:
                marker = forcing.ignore_ids(step_marker(prompts, left))
                if len(st.ids) + len(marker) >= caps[i]:  # no room left to think after it
                    st.end = "budget"
                    continue
                st.ids += marker
            still.append(i)
        active = still
    thinkings = [Thinking(st.ids, 0, st.end or "budget", st.rounds) for st in states]
    answers = run_answers(engine, forcing, [AnswerJob(s, t) for s, t in zip(samples, thinkings)])
    return [make_result(forcing, setting, t, caps[i], answers[i], states[i].time_s, ladder=False,
                        prompt_tokens=len(samples[i].prompt), steps_used=states[i].steps)
            for i, t in enumerate(thinkings)]


# ------------------------------------------------------------------------------ rejection sampling

def run_rejection(engine: Engine, forcing: Forcing, samples: Sequence[Sample],
                  setting: BudgetSetting) -> list[Result]:
    """Sample thinking (seed ``derive_seed(sample seed, "reject", try)``) until it ends naturally
    within the cap, at most ``setting.max_tries`` tries. A sample that never fits keeps its last
    try cut at the budget (answered like budget forcing) and is recorded with ``accepted`` false;
    ``tries`` records how many tries were made."""
    plain = BudgetSetting(setting.max_thinking_tokens, method="rejection")
    caps = [forcing.cap(setting, len(s.prompt)) for s in samples]
    chosen: list[Thinking | None] = [None] * len(samples)
    tries = [0] * len(samples)
    times = [0.0] * len(samples)
    accepted = [False] * len(samples)
    pending = list(range(len(samples)))
    for attempt in range(max(1, setting.max_tries)):
        if not pending:
            break
        batch = [Sample(samples[i].key, samples[i].prompt, derive_seed(samples[i].seed, "reject", attempt))
                 for i in pending]
        traces: list[list[Round]] = trace(engine, forcing, batch, plain)
        still = []
        for i, rounds in zip(pending, traces):
            thinking = replay(rounds, plain, caps[i], ())
            tries[i] += 1
            times[i] += sum(r.time_s for r in rounds)
            chosen[i] = thinking
            if thinking.end == "natural":
                accepted[i] = True
            else:
                still.append(i)
        pending = still
    thinkings = [t if t is not None else Thinking([], 0, "budget", 0) for t in chosen]
    answers = run_answers(engine, forcing, [AnswerJob(s, t) for s, t in zip(samples, thinkings)])
    return [make_result(forcing, setting, t, caps[i], answers[i], times[i], ladder=False,
                        prompt_tokens=len(samples[i].prompt), tries=tries[i], accepted=accepted[i])
            for i, t in enumerate(thinkings)]
