"""Budget forcing and the budget ladder, specified on a deterministic fake model (fast).

The same properties are checked on SmolLM2 with both real engines in test_engines_*.py.
"""

from __future__ import annotations

import itertools

import pytest

from s1slurm.eval.engines.base import Request, StopMatch, StopRule, StopScanner
from s1slurm.eval.forcing import DelimiterText, Forcing, Round, Sample, Thinking, replay, run_naive, trace
from s1slurm.eval.ladder import dominant, ladder_groups, run_ladder
from s1slurm.eval.records import BudgetSetting
from tests.eval.fakes import VOCAB, FakeEngine, FakeTokenizer, fake_forcing

T = {tok: i for i, tok in enumerate(VOCAB)}
WAIT = [T["Wait"]]


def samples_for(forcing: Forcing, n: int = 12, seed: int = 0) -> list[Sample]:
    words = [" a", " b", " c", " d", " y", " z"]
    out = []
    for i in range(n):
        question = "".join(words[(i * 7 + k * 3) % len(words)] for k in range(3 + i % 4))
        out.append(Sample(key=i, prompt=forcing.prompt_ids(question), seed=seed * 1000 + i))
    return out


def sweep(
    budgets=(0, 1, 2, 3, 5, 8, 12, 17, 23, 30, 40, 64), ignores=(0, 1, 2, 4), min_tokens=0
) -> list[BudgetSetting]:
    return [
        BudgetSetting(
            max_thinking_tokens=b,
            num_ignore=n,
            min_thinking_tokens=min(min_tokens, b),
            method="max" if n == 0 else "ignore",
        )
        for b, n in itertools.product(budgets, ignores)
    ] + [BudgetSetting(max_thinking_tokens=None, num_ignore=n, method="ignore") for n in ignores]


def as_tuple(result):
    return (
        result.thinking.ids,
        result.thinking.forced,
        result.thinking.end,
        result.answer_ids,
        result.answer_text,
        result.thinking_text,
    )


# ------------------------------------------------------------------ the stop scanner


class TestStopScanner:
    tok = FakeTokenizer()

    def scan(self, tokens, strings=(), ids=()):
        return StopScanner(self.tok, StopRule(tuple(strings), tuple(ids))).first([T[t] for t in tokens])

    def test_a_delimiter_split_over_tokens_matches_at_the_token_that_completes_it(self):
        m = self.scan([" a", "\n", "\n", " b"], strings=["\n\n"])
        assert m == StopMatch(cut=1, end=3)

    def test_a_token_holding_text_before_the_delimiter_is_dropped_with_it(self):
        m = self.scan([" a", ".\n\n", " b"], strings=["\n\n"])
        assert m == StopMatch(cut=1, end=2)

    def test_a_multi_token_delimiter_needs_all_its_tokens(self):
        assert self.scan([" a", "<|im_start|>", " b"], strings=["<|im_start|>answer"]) is None
        m = self.scan([" a", "<|im_start|>", "answer", " b"], strings=["<|im_start|>answer"])
        assert m == StopMatch(cut=1, end=3)

    def test_stop_ids_and_the_earliest_of_several_strings(self):
        assert self.scan([" a", "<eos>"], ids=[T["<eos>"]]) == StopMatch(cut=1, end=2)
        m = self.scan([" a", "<|im_start|>", "answer"], strings=["<|im_start|>answer", "<|im_start|>"])
        assert m == StopMatch(cut=1, end=2)

    def test_no_match(self):
        assert self.scan([" a", " b", "\n"], strings=["\n\n"], ids=[0]) is None


# ------------------------------------------------------------------ the rules, on hand-made traces


def rnd(start, n_tokens, stop_cut=None, stop_end=None, token=7):
    stop = StopMatch(stop_cut, stop_end) if stop_cut is not None else None
    return Round(start=start, tokens=[token] * n_tokens, stop=stop)


class TestReplayRules:
    def test_natural_end_drops_the_delimiter(self):
        t = replay([rnd(0, 12, 10, 12)], BudgetSetting(max_thinking_tokens=20), 20, WAIT)
        assert (len(t.ids), t.forced, t.end) == (10, 0, "natural")

    def test_a_delimiter_completed_past_the_cap_is_not_seen(self):
        # the model would stop at token 12 but a cap of 11 cuts it first (keeping a partial delimiter)
        t = replay([rnd(0, 12, 10, 12)], BudgetSetting(max_thinking_tokens=11), 11, WAIT)
        assert (len(t.ids), t.end) == (11, "budget")

    def test_ignore_appends_wait_and_needs_another_round(self):
        t = replay([rnd(0, 12, 10, 12)], BudgetSetting(max_thinking_tokens=20, num_ignore=1), 20, WAIT)
        assert (t.ids[-1:], t.forced, t.end) == (WAIT, 1, None)

    def test_wait_that_does_not_fit_ends_by_budget(self):
        t = replay([rnd(0, 12, 10, 12)], BudgetSetting(max_thinking_tokens=10, num_ignore=1), 10, WAIT)
        assert (len(t.ids), t.forced, t.end) == (10, 0, "budget")

    def test_wait_that_fills_the_cap_exactly_ends_by_budget(self):
        t = replay([rnd(0, 12, 10, 12)], BudgetSetting(max_thinking_tokens=11, num_ignore=1), 12, WAIT)
        assert t.end is None  # cap 12: Wait fits with one token to spare
        t = replay([rnd(0, 11, 10, 11)], BudgetSetting(max_thinking_tokens=11, num_ignore=1), 11, WAIT)
        assert (len(t.ids), t.forced, t.end) == (11, 1, "budget")

    def test_min_thinking_tokens_keeps_appending(self):
        setting = BudgetSetting(max_thinking_tokens=100, min_thinking_tokens=25)
        rounds = [rnd(0, 11, 10, 11), rnd(11, 6, 5, 6), rnd(17, 9, 8, 9)]
        t = replay(rounds, setting, 100, WAIT)
        assert (len(t.ids), t.forced, t.end) == (25, 2, "natural")

    def test_zero_budget_answers_at_once(self):
        t = replay([], BudgetSetting(max_thinking_tokens=0), 0, WAIT)
        assert t == Thinking([], 0, "budget", 0)

    def test_a_trace_that_does_not_fit_is_refused(self):
        with pytest.raises(ValueError, match="does not fit"):
            replay(
                [rnd(0, 11, 10, 11), rnd(3, 5)], BudgetSetting(max_thinking_tokens=50, num_ignore=1), 50, WAIT
            )


# ------------------------------------------------------------------ end to end on the fake model


@pytest.mark.parametrize("overshoot", [0, 2])
def test_no_sample_exceeds_its_maximum(overshoot):
    engine = FakeEngine(overshoot=overshoot)
    forcing = fake_forcing(engine)
    results = run_naive(engine, forcing, samples_for(forcing), sweep())
    for per_sample in results:
        for r in per_sample.values():
            assert len(r.thinking.ids) <= r.cap
            if r.setting.max_thinking_tokens is not None:
                assert len(r.thinking.ids) <= r.setting.max_thinking_tokens
            assert r.thinking.end in ("natural", "budget")
            assert len(r.answer_ids) <= forcing.max_answer_tokens
    # the sweep really is constrained: some samples are cut by the budget, some end naturally
    ends = {r.thinking.end for per in results for r in per.values()}
    assert ends == {"natural", "budget"}


def test_wait_is_appended_exactly_n_times_when_the_model_tries_to_stop():
    engine = FakeEngine()
    forcing = fake_forcing(engine)
    samples = samples_for(forcing)
    for n in (1, 2, 4):
        setting = BudgetSetting(max_thinking_tokens=None, num_ignore=n, method="ignore")
        traces = trace(engine, forcing, samples, setting)
        for rounds in traces:
            t = replay(rounds, setting, forcing.cap(setting, 0), WAIT)
            natural_stops = sum(r.stop is not None for r in rounds)
            assert t.end == "natural"  # with no cap, the model eventually stops after N waits
            assert t.forced == n and natural_stops == n + 1 and len(rounds) == n + 1
            # each suppressed stop's delimiter is replaced by exactly one ignore string
            expected = []
            for r in rounds[:-1]:
                expected += r.tokens[: r.stop.cut] + WAIT
            expected += rounds[-1].tokens[: rounds[-1].stop.cut]
            assert t.ids == expected


def test_answer_phase_appends_final_answer_only_after_a_budget_end():
    engine = FakeEngine()
    forcing = fake_forcing(engine)
    samples = samples_for(forcing, 8)
    results = run_naive(
        engine,
        forcing,
        samples,
        [BudgetSetting(max_thinking_tokens=3), BudgetSetting(max_thinking_tokens=None)],
    )
    answer_prompts = [r.prompt for r in engine.calls[-1]]  # the last batch: answers of max=none
    ends = []
    for per_sample in results:
        for r in per_sample.values():
            ends.append(r.thinking.end)
            assert r.answer_text.startswith("Final Answer:") == (r.thinking.end == "budget")
    assert {"natural", "budget"} <= set(ends)
    # the answer context is prompt + thinking + answer delimiter (+ Final Answer:), token for token
    for sample, per_sample, prompt in zip(samples, results, answer_prompts):
        r = per_sample["max=none"]
        tail = forcing.final_answer if r.thinking.end == "budget" else ()
        assert list(prompt) == list(sample.prompt) + r.thinking.ids + list(forcing.answer_start + tail)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("min_tokens", [0, 20])
def test_ladder_equals_naive_runs_token_for_token(temperature, min_tokens):
    engine = FakeEngine(overshoot=1)
    forcing = fake_forcing(engine, temperature=temperature)
    samples = samples_for(forcing, 10, seed=3)
    settings = sweep(min_tokens=min_tokens)
    naive = run_naive(engine, forcing, samples, settings)
    calls_naive = len(engine.calls)
    ladder = run_ladder(engine, forcing, samples, settings)
    calls_ladder = len(engine.calls) - calls_naive
    for a, b in zip(naive, ladder):
        assert set(a) == set(b) == {s.label for s in settings}
        for label in a:
            assert as_tuple(a[label]) == as_tuple(b[label]), label
    assert calls_ladder < calls_naive / 5  # one trace (a few rounds) and one answer batch


def test_ladder_shares_answers_between_identical_snapshots():
    engine = FakeEngine()
    forcing = fake_forcing(engine)
    samples = samples_for(forcing, 4)
    settings = [BudgetSetting(max_thinking_tokens=b) for b in (1000, 2000, 3000)]
    run_ladder(engine, forcing, samples, settings)
    answer_batch = engine.calls[-1]
    assert len(answer_batch) == len(samples)  # all three budgets end naturally at the same place


def test_ladder_groups_and_dominant_setting():
    a = BudgetSetting(max_thinking_tokens=10, num_ignore=2)
    b = BudgetSetting(max_thinking_tokens=None, num_ignore=0)
    c = BudgetSetting(max_thinking_tokens=10, min_thinking_tokens=5)
    groups = ladder_groups([a, b, c])
    assert groups == [[a, b], [c]]
    top = dominant(groups[0])
    assert (top.max_thinking_tokens, top.num_ignore) == (None, 2)


def test_an_empty_batch_never_reaches_the_engine():
    engine = FakeEngine()
    assert engine.generate([]) == []
    assert engine.calls == []
    forcing = fake_forcing(engine)
    assert run_naive(engine, forcing, [], sweep()) == []
    assert run_ladder(engine, forcing, [], sweep()) == []
    # every sample already at its cap: thinking makes no request at all
    samples = samples_for(forcing, 3)
    assert trace(engine, forcing, samples, BudgetSetting(max_thinking_tokens=0)) == [[], [], []]
    assert engine.calls == []


def test_requests_that_do_not_fit_are_refused():
    engine = FakeEngine(max_model_len=10)
    with pytest.raises(ValueError, match="max_model_len"):
        engine.generate([Request(prompt=(1,) * 8, max_tokens=5, stop=StopRule(), seed=0)])


def test_the_cap_leaves_room_for_the_answer():
    engine = FakeEngine(max_model_len=200)
    forcing = fake_forcing(engine, max_answer_tokens=50)
    # the newline that may precede the answer delimiter after a cut is counted too
    room = 200 - 30 - len(forcing.newline) - len(forcing.answer_start) - len(forcing.final_answer) - 50
    assert forcing.cap(BudgetSetting(max_thinking_tokens=None), 30) == room
    assert forcing.cap(BudgetSetting(max_thinking_tokens=10_000), 30) == room
    assert forcing.cap(BudgetSetting(max_thinking_tokens=5), 30) == 5


def test_delimiters_are_encoded_once_and_single_token_ones_become_stop_ids():
    engine = FakeEngine()
    forcing = Forcing(
        engine.tokenizer,
        eos_ids=(0,),
        max_model_len=100,
        delimiters=DelimiterText(thinking_end=("<|im_start|>", "\n\n")),
    )
    assert forcing.thinking_stop.token_ids == (0, T["<|im_start|>"], T["\n\n"])
    assert forcing.answer_stop == StopRule(token_ids=(0,))
