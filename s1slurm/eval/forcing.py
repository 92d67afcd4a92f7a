"""Budget forcing: one definition on token ids, used by every engine and by the budget ladder.

A sample's prompt is the chat template over the question plus the thinking delimiter. Thinking
then runs in *rounds*: each round asks the engine to continue by at most the tokens left in the
budget and stops at an end-of-thinking delimiter (or the model's end of turn). The delimiter's
tokens are dropped. What happens next is decided by :func:`replay`, the single statement of the
rules:

* the thinking tokens of a sample (generated in every round plus each appended ignore string)
  never exceed the cap ``min(max_thinking_tokens, room left in the context)``;
* a natural end is suppressed while ``forced < num_ignore`` or (``min_mode: append``) while
  fewer than ``min_thinking_tokens`` tokens were thought: the ignore string (``Wait``, possibly
  empty) is appended, if it fits under the cap, and the next round begins; if it does not fit,
  thinking ends by budget;
* with ``min_mode: suppress`` the engine itself may not emit an end-of-thinking token before the
  minimum (vLLM's ``min_tokens``, as s1's ``min_tokens_thinking``): nothing is appended;
* the round that continues after a suppressed end must generate at least one token before the
  model's end-of-thinking token ids can end it (s1 sets ``min_tokens=1`` whenever
  ``thinking_n_ignore`` is given, vllm_causallms.py), so an empty ignore string cannot end at once;
* a round that reaches the cap without a delimiter ends thinking by budget.

The answer phase appends the answer delimiter (after a budget end: a newline first unless the
thinking already ends with one, then the delimiter and ``Final Answer:``, as s1's evaluation
does) and generates until the end of turn, at most ``max_answer_tokens`` or, with
``max_answer_tokens`` None ("auto", s1's default), until the context is full. With "auto" the
thinking cap leaves :data:`AUTO_ANSWER_ROOM` tokens for the answer (s1's ``max_tokens_thinking=auto``
leaves 100).

Naive evaluation (:func:`run_naive`) runs every setting on its own; the budget ladder
(:mod:`s1slurm.eval.ladder`) derives all settings from one trace. Both use :func:`replay`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from s1slurm.eval.engines.base import (
    Engine,
    Generation,
    Request,
    StopMatch,
    StopRule,
    StopScanner,
    derive_seed,
)
from s1slurm.eval.records import BudgetSetting
from s1slurm.models.delimiters import DelimiterText

AUTO_ANSWER_ROOM = 100  # s1 (lm-evaluation-harness fork, vllm_causallms.py): "Leave 100 tokens for answer"


def encode(tokenizer: Any, text: str) -> tuple[int, ...]:
    """Token ids of ``text`` alone (no BOS/EOS added)."""
    return tuple(tokenizer.encode(text, add_special_tokens=False)) if text else ()


class Forcing:
    """Delimiters encoded once for one tokenizer, with the answer-phase settings.

    ``eos_ids`` (the model's end of turn) end thinking as well as answers. ``max_answer_tokens``
    None: the answer runs to the end of the context ("auto").
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        eos_ids: Sequence[int],
        max_model_len: int,
        delimiters: DelimiterText = DelimiterText(),
        max_answer_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
    ) -> None:
        if max_answer_tokens is not None and max_answer_tokens < 1:
            raise ValueError("max_answer_tokens must be >= 1 (or None for the rest of the context)")
        self.tokenizer = tokenizer
        self.delimiters = delimiters
        self.thinking_start = encode(tokenizer, delimiters.thinking_start)
        self.answer_start = encode(tokenizer, delimiters.answer_start)
        self.final_answer = encode(tokenizer, delimiters.final_answer)
        self.newline = encode(tokenizer, "\n")
        eos = tuple(eos_ids)
        self.eos_ids = eos
        single = []  # single-token delimiters also stop as ids (engines check those cheaply)
        for d in delimiters.thinking_end:
            ids = encode(tokenizer, d)
            if len(ids) == 1 and tokenizer.decode(list(ids), skip_special_tokens=False) == d:
                single.append(ids[0])
        self.thinking_stop = StopRule(
            strings=tuple(delimiters.thinking_end), token_ids=tuple(dict.fromkeys(eos + tuple(single)))
        )
        self.answer_stop = StopRule(token_ids=eos)
        # min_mode "suppress": only token ids stop (an engine's min_tokens suppresses ids, not text)
        self.thinking_stop_ids = StopRule(token_ids=self.thinking_stop.token_ids)
        self.single_token_ends = len(single) == len(delimiters.thinking_end)
        self.max_model_len = max_model_len
        self.max_answer_tokens = max_answer_tokens
        self.temperature = temperature
        self.top_p = top_p
        self._ignore: dict[str, tuple[int, ...]] = {}

    def with_delimiters(
        self, delimiters: DelimiterText | None = None, temperature: float | None = None
    ) -> Forcing:
        """The same tokenizer, model end of turn and answer settings with other delimiters (the
        step-conditional format of a model trained with step delimiters) or another temperature
        (rejection sampling's); None keeps this one's."""
        return Forcing(
            self.tokenizer,
            eos_ids=self.eos_ids,
            max_model_len=self.max_model_len,
            delimiters=delimiters or self.delimiters,
            max_answer_tokens=self.max_answer_tokens,
            temperature=self.temperature if temperature is None else temperature,
            top_p=self.top_p,
        )

    def ignore_ids(self, text: str) -> tuple[int, ...]:
        if text not in self._ignore:
            self._ignore[text] = encode(self.tokenizer, text)
        return self._ignore[text]

    @property
    def answer_room(self) -> int:
        """Tokens the thinking cap leaves for the answer."""
        return self.max_answer_tokens if self.max_answer_tokens is not None else AUTO_ANSWER_ROOM

    def prompt_ids(self, question: str, system_prompt: str | None = None) -> tuple[int, ...]:
        """Chat template over the question, assistant turn opened, then the thinking delimiter."""
        messages = [{"role": "user", "content": question}]
        if system_prompt is not None:
            messages.insert(0, {"role": "system", "content": system_prompt})
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        left = self._opening_left(text)
        return encode(self.tokenizer, text) + (
            self.thinking_start if left == self.delimiters.thinking_start else encode(self.tokenizer, left)
        )

    def _opening_left(self, template_text: str) -> str:
        """The part of the thinking delimiter the chat template has not written already: templates of
        R1 distills and Qwen3 end the generation prompt with ``<think>\n`` themselves."""
        start = self.delimiters.thinking_start
        for k in range(len(start), 0, -1):
            # only the whole tag counts (a template ending in "\n" has not opened thinking)
            if start[:k].strip() == start.strip() and template_text.endswith(start[:k]):
                return start[k:]
        return start

    def cap(self, setting: BudgetSetting, prompt_len: int) -> int:
        """Most thinking tokens a sample may have: the setting's max and the room in the context."""
        room = (
            self.max_model_len
            - prompt_len
            - len(self.newline)
            - len(self.answer_start)
            - len(self.final_answer)
            - self.answer_room
        )
        room = max(0, room)
        return room if setting.max_thinking_tokens is None else min(setting.max_thinking_tokens, room)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


@dataclass(frozen=True)
class Sample:
    """One sample of one question: its prompt ids and seed; ``key`` is the caller's handle."""

    key: Hashable
    prompt: tuple[int, ...]
    seed: int


@dataclass
class Round:
    """One engine call of thinking: ids generated (cut after the stop match) and the match."""

    start: int  # thinking ids before this round
    tokens: list[int]
    stop: StopMatch | None
    time_s: float = 0.0


@dataclass
class Thinking:
    """The outcome of thinking under one setting."""

    ids: list[int]  # thinking ids, appended ignore strings included
    forced: int  # times the ignore string was appended
    end: str | None  # "natural" | "budget"; None: needs another round
    rounds: int  # rounds used


@dataclass
class Result:
    """One sample under one setting: thinking, answer, and the engine time it cost."""

    setting: BudgetSetting
    thinking: Thinking
    cap: int
    answer_ids: list[int]
    answer_text: str
    thinking_text: str
    think_time_s: float
    answer_time_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_time_s(self) -> float:
        return self.think_time_s + self.answer_time_s


def replay(rounds: Sequence[Round], setting: BudgetSetting, cap: int, ignore: Sequence[int]) -> Thinking:
    """Thinking under ``setting`` given the rounds of a trace (the rules of the module docstring).

    The rounds may come from a run of this very setting or of one that dominates it (same
    minimum and ignore string, cap and num_ignore at least as large): up to where their decisions
    differ, both runs send the engine the same contexts, so the same rounds.
    """
    thinking: list[int] = []
    forced = 0
    for used, r in enumerate(rounds, 1):
        remaining = cap - len(thinking)
        if remaining <= 0:
            return Thinking(thinking, forced, "budget", used - 1)
        if r.start != len(thinking):
            raise ValueError(
                f"trace does not fit this setting: round starts at {r.start}, replay is at {len(thinking)}"
            )
        if r.stop is not None and r.stop.end <= remaining:
            thinking += r.tokens[: r.stop.cut]
            short = setting.min_mode == "append" and len(thinking) < setting.min_thinking_tokens
            if forced < setting.num_ignore or short:
                if len(thinking) + len(ignore) <= cap:
                    thinking += ignore
                    forced += 1
                    continue
                return Thinking(thinking, forced, "budget", used)
            return Thinking(thinking, forced, "natural", used)
        # no stop within what this setting may generate: it ends by budget here
        return Thinking(thinking + r.tokens[:remaining], forced, "budget", used)
    if cap - len(thinking) <= 0:
        return Thinking(thinking, forced, "budget", len(rounds))
    return Thinking(thinking, forced, None, len(rounds))


def trace(
    engine: Engine, forcing: Forcing, samples: Sequence[Sample], setting: BudgetSetting
) -> list[list[Round]]:
    """Run thinking under ``setting`` for every sample, batching each round over all samples.

    Returns each sample's rounds; ``replay(rounds, setting, ...)`` gives its outcome.
    """
    suppress = setting.min_mode == "suppress" and setting.min_thinking_tokens > 0
    stop = forcing.thinking_stop_ids if suppress else forcing.thinking_stop
    scanner = StopScanner(engine.tokenizer, stop)
    ignore = forcing.ignore_ids(setting.ignore_string)
    rounds: list[list[Round]] = [[] for _ in samples]
    caps = [forcing.cap(setting, len(s.prompt)) for s in samples]
    active = list(range(len(samples)))
    while active:
        pending: list[tuple[int, Thinking]] = []
        for i in active:
            state = replay(rounds[i], setting, caps[i], ignore)
            if state.end is None:
                pending.append((i, state))
        if not pending:
            break
        requests = [
            Request(
                prompt=samples[i].prompt + tuple(state.ids),
                max_tokens=caps[i] - len(state.ids),
                stop=stop,
                seed=derive_seed(samples[i].seed, "think", len(rounds[i])),
                temperature=forcing.temperature,
                top_p=forcing.top_p,
                min_tokens=max(
                    (max(0, min(setting.min_thinking_tokens, caps[i]) - len(state.ids)) if suppress else 0),
                    1 if state.forced else 0,
                ),
            )
            for i, state in pending
        ]
        for (i, state), gen in zip(pending, engine.generate(requests)):
            rounds[i].append(_round(gen, len(state.ids), scanner))
        active = [i for i, _ in pending]
    return rounds


def _round(gen: Generation, start: int, scanner: StopScanner) -> Round:
    match = scanner.first(gen.token_ids)
    tokens = gen.token_ids[: match.end] if match else list(gen.token_ids)
    return Round(start=start, tokens=tokens, stop=match, time_s=gen.time_s)


@dataclass
class AnswerJob:
    """One answer phase to run: a sample, its thinking, and who wants the result."""

    sample: Sample
    thinking: Thinking


def answer_prefix(forcing: Forcing, thinking: Thinking) -> tuple[int, ...]:
    """Ids appended after thinking: the answer delimiter, plus ``Final Answer:`` after a budget end,
    where a newline comes first unless the thinking already ends in one (s1 inserts it: its
    training data has the delimiter on a line of its own)."""
    if thinking.end != "budget":
        return forcing.answer_start
    text = forcing.decode(thinking.ids[-4:]) if thinking.ids else forcing.delimiters.thinking_start
    newline = () if text.endswith("\n") else forcing.newline
    return newline + forcing.answer_start + forcing.final_answer


def run_answers(
    engine: Engine, forcing: Forcing, jobs: Sequence[AnswerJob]
) -> list[tuple[list[int], str, float]]:
    """Answer phase for every job in one batch: (answer ids, answer text, engine time)."""
    scanner = StopScanner(engine.tokenizer, forcing.answer_stop)
    requests = []
    for job in jobs:
        context = job.sample.prompt + tuple(job.thinking.ids) + answer_prefix(forcing, job.thinking)
        room = forcing.max_model_len - len(context)
        limit = room if forcing.max_answer_tokens is None else min(forcing.max_answer_tokens, room)
        requests.append(
            Request(
                prompt=context,
                max_tokens=max(1, limit),
                stop=forcing.answer_stop,
                seed=derive_seed(job.sample.seed, "answer"),
                temperature=forcing.temperature,
                top_p=forcing.top_p,
            )
        )
    results = []
    for job, gen in zip(jobs, engine.generate(requests)):
        match = scanner.first(gen.token_ids)
        ids = gen.token_ids[: match.cut] if match else list(gen.token_ids)
        forced_text = forcing.final_answer if job.thinking.end == "budget" else ()
        results.append((ids, forcing.decode(tuple(forced_text) + tuple(ids)), gen.time_s))
    return results


def make_result(
    forcing: Forcing,
    setting: BudgetSetting,
    thinking: Thinking,
    cap: int,
    answer: tuple[list[int], str, float],
    think_time_s: float,
    **extra: Any,
) -> Result:
    ids, text, answer_time = answer
    return Result(
        setting=setting,
        thinking=thinking,
        cap=cap,
        answer_ids=ids,
        answer_text=text,
        thinking_text=forcing.decode(thinking.ids),
        think_time_s=think_time_s,
        answer_time_s=answer_time,
        extra=extra,
    )


def run_naive(
    engine: Engine, forcing: Forcing, samples: Sequence[Sample], settings: Sequence[BudgetSetting]
) -> list[dict[str, Result]]:
    """Every setting run on its own (thinking, then answers): the reference the ladder must equal.

    Returns, for each sample, its results by setting label.
    """
    out: list[dict[str, Result]] = [{} for _ in samples]
    for setting in settings:
        traces = trace(engine, forcing, samples, setting)
        ignore = forcing.ignore_ids(setting.ignore_string)
        caps = [forcing.cap(setting, len(s.prompt)) for s in samples]
        thinkings = [replay(r, setting, c, ignore) for r, c in zip(traces, caps)]
        answers = run_answers(engine, forcing, [AnswerJob(s, t) for s, t in zip(samples, thinkings)])
        for i, (rounds, thinking, answer) in enumerate(zip(traces, thinkings, answers)):
            out[i][setting.label] = make_result(
                forcing,
                setting,
                thinking,
                caps[i],
                answer,
                sum(r.time_s for r in rounds),
                ladder=False,
                prompt_tokens=len(samples[i].prompt),
            )
    return out
