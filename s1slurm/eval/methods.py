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
* step-conditional control (``step_conditional``, ``step_conditional_forced``), the paper's: a
  model trained with step delimiters writes ``<|im_start|>N steps left`` itself; thinking opens
  with ``<|im_start|>`` and the forced variant stops where the model writes ``<|im_start|>0``
  (s1 eval/commands.sh 70-74; :func:`run_model_steps`). Delimiters are not thinking in s1's count;
* injected steps (``step_injected``, ``step_injected_forced``), *not the paper's*, for models never
  trained with step delimiters: thinking runs in rounds of ``step_tokens`` tokens and after each
  the steps left are written in (:func:`run_steps`); the forced variant ends when none is left;
* rejection sampling (``rejection``): thinking is sampled again, with a new seed, until it ends
  naturally within the budget, with no limit as s1 (:func:`run_rejection`); with ``max_tries`` a
  sample that never fits is *not accepted*: recorded without an answer, never cut and answered.

Every result also carries ``s1_thinking_tokens``: its thinking re-tokenized from the decoded text
the way s1 counts (``eval/compute_sample_stats.py``), which the report can use as its axis.

Settings whose prompts differ are different samples to the engine; within one prompt, the ladder
applies as usual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from s1slurm.eval.engines.base import Engine, Request, StopScanner, derive_seed
from s1slurm.eval.forcing import (
    AnswerJob,
    Forcing,
    Result,
    Round,
    Sample,
    Thinking,
    make_result,
    replay,
    run_answers,
    run_naive,
    trace,
)
from s1slurm.eval.ladder import run_ladder
from s1slurm.eval.prompts import ConditionPrompts, conditioned, step_marker
from s1slurm.eval.records import BudgetSetting
from s1slurm.models.delimiters import DelimiterText

_LOG = logging.getLogger("s1slurm")

# s1's step-conditional format (the paper's Figure 10; eval/commands.sh lines 70-74): thinking
# opens with the bare "<|im_start|>", the model writes "<|im_start|>N steps left\n" before each
# step, and "<|im_start|>0" (zero steps left) or its own "<|im_start|>answer" ends thinking.
STEP_OPEN = "<|im_start|>"
STEP_ZERO = "<|im_start|>0"
STEP_ANSWER = "<|im_start|>answer"
STEP_LEFT = re.compile(r"-?\d+ steps? left")


@dataclass(frozen=True)
class Item:
    """One sample to evaluate: the caller's key, the benchmark's user message and the seed."""

    key: Hashable
    question: str
    seed: int


def runner_of(setting: BudgetSetting) -> str:
    """Which loop runs a setting: ``model_steps``, ``steps`` (injected), ``rejection`` or
    ``forcing`` (ladder / naive)."""
    if setting.stated_steps is not None:
        return "model_steps" if setting.step_source == "model" else "steps"
    if setting.method == "rejection" or setting.max_tries:
        return "rejection"
    return "forcing"


def step_forcing(forcing: Forcing, stop_at_zero: bool) -> Forcing:
    """Forcing in s1's step-conditional format: opened by ``<|im_start|>``; thinking ends at the
    model's ``<|im_start|>answer`` and, with ``stop_at_zero``, at ``<|im_start|>0``."""
    ends = (STEP_ZERO, STEP_ANSWER) if stop_at_zero else (STEP_ANSWER,)
    d = forcing.delimiters
    return forcing.with_delimiters(DelimiterText(STEP_OPEN, ends, d.answer_start, d.final_answer))


def s1_thinking_tokens(tokenizer: Any, thinking_text: str, *, cut: bool) -> int:
    """Thinking tokens as s1 counts them (``eval/compute_sample_stats.py``): the decoded thinking
    re-tokenized, with its first and last line dropped as s1 drops the delimiter's line and the
    line that ends at the answer delimiter (after a cut s1 inserts a newline first)."""
    text = thinking_text + ("\n" if cut and not thinking_text.endswith("\n") else "")
    body = "\n".join(("<delimiter>\n" + text).split("\n")[1:-1])
    return _count(tokenizer, body)


def s1_step_tokens(tokenizer: Any, thinking_text: str) -> int:
    """Thinking tokens of s1's step format as the paper's Table 13 counts them ("Token counts
    ignore the thinking and step delimiters"; compute_sample_stats.py): each step's text after
    its ``<|im_start|>N steps left`` line, re-tokenized and summed. ``thinking_text`` starts
    after the opening ``<|im_start|>``."""
    chunks = (STEP_OPEN + thinking_text).split(STEP_OPEN)[1:]
    return sum(_count(tokenizer, "\n".join(c.split("\n")[1:])) for c in chunks)


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False)) if text else 0


def steps_written(thinking_text: str) -> int:
    """Step delimiters the model wrote in its thinking (which starts after the opening
    ``<|im_start|>``, so the first step's delimiter is its first line)."""
    return sum(
        1
        for c in (STEP_OPEN + thinking_text).split(STEP_OPEN)[1:]
        if STEP_LEFT.fullmatch(c.split("\n")[0].strip())
    )


def run_settings(
    engine: Engine,
    forcing: Forcing,
    items: Sequence[Item],
    settings: Sequence[BudgetSetting],
    *,
    system_prompt: str | None = None,
    prompts: ConditionPrompts | None = None,
    ladder: bool = True,
) -> list[dict[str, Result]]:
    """Every setting for every item; for each item, its results by setting label."""
    out: list[dict[str, Result]] = [{} for _ in items]
    groups: dict[tuple, list[BudgetSetting]] = {}
    for s in settings:
        groups.setdefault((runner_of(s), s.prompt_variant), []).append(s)
    for (runner, _variant), group in groups.items():
        # the step format opens thinking with its own delimiter
        opener = step_forcing(forcing, False) if runner == "model_steps" else forcing
        samples = [
            Sample(
                key=item.key,
                seed=item.seed,
                prompt=opener.prompt_ids(conditioned(item.question, group[0], prompts), system_prompt),
            )
            for item in items
        ]
        if runner == "forcing":
            per_sample = (run_ladder if ladder else run_naive)(engine, forcing, samples, group)
        elif runner == "model_steps":
            per_sample = [{} for _ in samples]
            for s in group:
                for i, r in enumerate(run_model_steps(engine, forcing, samples, s)):
                    per_sample[i][s.label] = r
        else:
            per_sample = [{} for _ in samples]
            for s in group:
                results = (
                    run_steps(engine, forcing, samples, s, prompts)
                    if runner == "steps"
                    else run_rejection(engine, forcing, samples, s)
                )
                for i, r in enumerate(results):
                    per_sample[i][s.label] = r
        for i, by_label in enumerate(per_sample):
            for label, r in by_label.items():
                r.extra["prompt_variant"] = group[0].prompt_variant[0]
                text = (
                    STEP_LEFT.sub("", r.thinking_text)
                    if runner == "steps"  # injected markers
                    else r.thinking_text
                )
                r.extra["s1_thinking_tokens"] = (
                    s1_step_tokens(engine.tokenizer, text)
                    if runner == "model_steps"
                    else s1_thinking_tokens(engine.tokenizer, text, cut=r.thinking.end == "budget")
                )
                out[i][label] = r
    return out


def run_model_steps(
    engine: Engine, forcing: Forcing, samples: Sequence[Sample], setting: BudgetSetting
) -> list[Result]:
    """The paper's step-conditional control on a model trained with step delimiters: thinking in
    s1's step format (:func:`step_forcing`; the samples' prompts end with its opening delimiter)
    under the context's room only (s1's ``max_tokens_thinking=auto``); ``steps_used`` counts the
    delimiters the model wrote."""
    fmt = step_forcing(forcing, setting.stop_at_zero)
    plain = BudgetSetting(None, method=setting.method)
    results = run_naive(engine, fmt, samples, [plain])
    out = []
    for r in results:
        res = r[plain.label]
        res.setting = setting
        res.extra["steps_used"] = steps_written(res.thinking_text)
        out.append(res)
    return out


# ------------------------------------------------------------------------- step-conditional control


@dataclass
class _StepState:
    ids: list[int]
    steps: int = 0  # steps thought so far
    end: str | None = None
    time_s: float = 0.0
    rounds: int = 0


def run_steps(
    engine: Engine,
    forcing: Forcing,
    samples: Sequence[Sample],
    setting: BudgetSetting,
    prompts: ConditionPrompts | None = None,
) -> list[Result]:
    """Injected steps (not the paper's step-conditional control): rounds of at most ``step_tokens``
    tokens; after a step without
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
            requests.append(
                Request(
                    prompt=samples[i].prompt + tuple(st.ids),
                    max_tokens=size,
                    stop=forcing.thinking_stop,
                    temperature=forcing.temperature,
                    top_p=forcing.top_p,
                    seed=derive_seed(samples[i].seed, "think", st.rounds),
                )
            )
        still = []
        for i, gen in zip(active, engine.generate(requests)):
            st = states[i]
            st.rounds += 1
            st.time_s += gen.time_s
            match = scanner.first(gen.token_ids)
            if match is not None:
                st.ids += gen.token_ids[: match.cut]
                st.end = "natural"
                continue
            st.ids += gen.token_ids
            st.steps += 1
            if len(st.ids) >= caps[i] or st.steps > stated:
                st.end = "budget"
                continue
            left = stated - st.steps
            if left == 0 and setting.max_thinking_tokens is not None:
                st.end = "budget"  # the forced variant: no step left
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
    return [
        make_result(
            forcing,
            setting,
            t,
            caps[i],
            answers[i],
            states[i].time_s,
            ladder=False,
            prompt_tokens=len(samples[i].prompt),
            steps_used=states[i].steps,
        )
        for i, t in enumerate(thinkings)
    ]


# ------------------------------------------------------------------------------ rejection sampling


def run_rejection(
    engine: Engine, forcing: Forcing, samples: Sequence[Sample], setting: BudgetSetting
) -> list[Result]:
    """Sample thinking (seed ``derive_seed(sample seed, "reject", try)``) until it ends naturally
    within the cap -- with no limit on tries, as s1 (``rejection_sample=true``), or at most
    ``setting.max_tries``. Accepted samples are answered; a sample that never fits is recorded as
    not accepted (``accepted`` false, its last try's thinking, no answer) and never cut and
    answered, which would be budget forcing. ``tries`` records how many tries were made."""
    if setting.temperature is not None:  # s1 samples thinking and answer at temperature 1
        forcing = forcing.with_delimiters(temperature=setting.temperature)
    plain = BudgetSetting(setting.max_thinking_tokens, method="rejection")
    caps = [forcing.cap(setting, len(s.prompt)) for s in samples]
    chosen: list[Thinking | None] = [None] * len(samples)
    tries = [0] * len(samples)
    times = [0.0] * len(samples)
    accepted = [False] * len(samples)
    pending = [i for i, c in enumerate(caps) if c > 0]
    attempt = 0
    while pending and (not setting.max_tries or attempt < setting.max_tries):
        batch = [
            Sample(samples[i].key, samples[i].prompt, derive_seed(samples[i].seed, "reject", attempt))
            for i in pending
        ]
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
        attempt += 1
        if pending:
            _LOG.info(
                "rejection sampling %s: try %d, %d of %d samples not yet within the budget",
                setting.label,
                attempt,
                len(pending),
                len(samples),
            )
    thinkings = [t if t is not None else Thinking([], 0, "budget", 0) for t in chosen]
    ok = [i for i in range(len(samples)) if accepted[i]]
    answers = run_answers(engine, forcing, [AnswerJob(samples[i], thinkings[i]) for i in ok])
    answer_of: dict[int, tuple[list[int], str, float]] = dict(zip(ok, answers))
    return [
        make_result(
            forcing,
            setting,
            t,
            caps[i],
            answer_of.get(i, ([], "", 0.0)),
            times[i],
            ladder=False,
            prompt_tokens=len(samples[i].prompt),
            tries=tries[i],
            accepted=accepted[i],
        )
        for i, t in enumerate(thinkings)
    ]
