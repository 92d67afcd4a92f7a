"""The paper's other test-time methods and s1's defaults, specified on the deterministic fake model.

The same methods run on SmolLM2, through the eval stage, in tests/report/test_real_sweep.py.
"""

from __future__ import annotations

from s1slurm.eval.forcing import DelimiterText, Thinking, answer_prefix, run_naive, trace
from s1slurm.eval.methods import Item, run_rejection, run_settings, run_steps
from s1slurm.eval.prompts import ConditionPrompts, conditioned
from s1slurm.eval.records import BudgetSetting
from s1slurm.eval.spec import Sweep
from tests.eval.fakes import VOCAB, FakeEngine, fake_forcing
from tests.eval.test_forcing import samples_for

T = {tok: i for i, tok in enumerate(VOCAB)}


def items(n: int = 8) -> list[Item]:
    words = [" a", " b", " c", " d", " y", " z"]
    return [
        Item(key=i, question="".join(words[(i * 5 + k) % 6] for k in range(2 + i % 3)), seed=i)
        for i in range(n)
    ]


# ------------------------------------------------------------------ s1 defaults


def test_a_cut_puts_a_newline_before_the_answer_delimiter_unless_thinking_ends_with_one():
    forcing = fake_forcing(FakeEngine())
    cut = Thinking([T[" a"], T[" b"]], 0, "budget", 1)
    assert answer_prefix(forcing, cut) == forcing.newline + forcing.answer_start + forcing.final_answer
    on_new_line = Thinking([T[" a"], T["\n"]], 0, "budget", 1)
    assert answer_prefix(forcing, on_new_line) == forcing.answer_start + forcing.final_answer
    natural = Thinking([T[" a"]], 0, "natural", 1)
    assert answer_prefix(forcing, natural) == forcing.answer_start


def test_auto_answer_length_runs_to_the_end_of_the_context_and_leaves_s1s_100_tokens():
    engine = FakeEngine(max_model_len=400)
    forcing = fake_forcing(engine, max_answer_tokens=None)
    assert (
        forcing.cap(BudgetSetting(None), 50)
        == 400 - 50 - 1 - len(forcing.answer_start) - len(forcing.final_answer) - 100
    )
    samples = samples_for(forcing, 4)
    run_naive(engine, forcing, samples, [BudgetSetting(8)])
    answers = engine.calls[-1]
    assert all(r.max_tokens == 400 - len(r.prompt) for r in answers)


def test_the_default_end_of_thinking_is_the_single_s1_token():
    assert DelimiterText().thinking_end == ("<|im_start|>",)
    forcing = fake_forcing(FakeEngine(), delimiters=DelimiterText())
    assert T["<|im_start|>"] in forcing.thinking_stop.token_ids and forcing.single_token_ends


def test_an_empty_ignore_string_suppresses_the_end_and_appends_nothing():
    engine = FakeEngine()
    forcing = fake_forcing(engine)
    samples = samples_for(forcing, 12)
    plain = run_naive(engine, forcing, samples, [BudgetSetting(200, num_ignore=0, method="max")])
    bare = run_naive(
        engine, forcing, samples, [BudgetSetting(200, num_ignore=2, ignore_string="", method="ignore")]
    )
    label = BudgetSetting(200, num_ignore=2, ignore_string="").label
    assert label == "ignore=2,string='',max=200"
    forced = [r[label] for r in bare]
    assert any(r.thinking.forced for r in forced)
    setting = BudgetSetting(200, num_ignore=2, ignore_string="", method="ignore")
    for rounds, r, p in zip(trace(engine, forcing, samples, setting), forced, plain):
        assert r.thinking.ids[: len(p["max=200"].thinking.ids)] == p["max=200"].thinking.ids
        written = [t for rd in rounds for t in (rd.tokens[: rd.stop.cut] if rd.stop else rd.tokens)]
        assert r.thinking.ids == written[: len(r.thinking.ids)], "only what the model wrote, nothing appended"


def test_the_round_after_an_ignored_end_generates_at_least_one_token_as_s1():
    engine = FakeEngine()
    forcing = fake_forcing(engine)
    samples = samples_for(forcing, 12)
    run_naive(engine, forcing, samples, [BudgetSetting(200, num_ignore=2, method="ignore")])
    firsts = [r for call in engine.calls for r in call if r.stop == forcing.thinking_stop]
    after_ignored = [r for r in firsts if forcing.decode(r.prompt).endswith("Wait")]
    assert after_ignored and all(r.min_tokens == 1 for r in after_ignored)
    assert all(r.min_tokens == 0 for r in firsts if r not in after_ignored)


def test_min_by_suppression_never_appends_and_reaches_the_minimum():
    engine = FakeEngine()
    forcing = fake_forcing(engine, delimiters=DelimiterText(thinking_end=("<|im_start|>",)))
    samples = samples_for(forcing, 12)
    setting = BudgetSetting(60, min_thinking_tokens=20, min_mode="suppress", method="min")
    results = run_naive(engine, forcing, samples, [setting])
    for r in results:
        res = r[setting.label]
        assert res.thinking.forced == 0 and len(res.thinking.ids) >= 20
    assert all(req.min_tokens == 20 for req in engine.calls[0])


def test_ladder_with_the_new_defaults_equals_separate_runs():
    from s1slurm.eval.ladder import run_ladder

    engine = FakeEngine()
    forcing = fake_forcing(engine, max_answer_tokens=None)
    samples = samples_for(forcing, 10)
    settings = Sweep(max_thinking_tokens=[3, 9, 27, None], num_ignore=[1, 2]).settings()
    naive = run_naive(engine, forcing, samples, settings)
    ladder = run_ladder(engine, forcing, samples, settings)
    for a, b in zip(naive, ladder):
        for label in a:
            assert (a[label].thinking.ids, a[label].answer_ids) == (
                b[label].thinking.ids,
                b[label].answer_ids,
            )


# ------------------------------------------------------------------ the other methods


def test_conditional_prompts_state_the_budget_the_steps_or_the_class():
    p = ConditionPrompts()
    assert conditioned("Q?", BudgetSetting(None, stated_tokens=2048)) == "Q?\n\nThink for up to 2048 tokens."
    assert "Think for up to 16 steps" in conditioned("Q?", BudgetSetting(None, stated_steps=16), p)
    short = conditioned("Q \\boxed{}", BudgetSetting(None, thinking_class="short"))
    assert short.startswith("Q \\boxed{}") and "short amount of thinking" in short
    assert conditioned("Q?", BudgetSetting(64)) == "Q?"


def test_sweep_methods_become_settings_with_their_own_method_names():
    sweep = Sweep(
        max_thinking_tokens=[8],
        methods=[
            {"method": "token_conditional", "tokens": [16, 32]},
            {"method": "step_conditional", "steps": [2, 4]},
            {"method": "step_conditional", "steps": [2], "source": "injected", "step_tokens": 5},
            {"method": "class_conditional"},
            {"method": "rejection", "max_thinking_tokens": [10, 20]},
            {"method": "rejection", "max_thinking_tokens": [10], "max_tries": 3},
        ],
    )
    by_method: dict[str, list[str]] = {}
    for s in sweep.settings():
        by_method.setdefault(s.method, []).append(s.label)
    assert by_method == {
        "max": ["max=8"],
        "token_conditional": ["tokens=16,max=none", "tokens=32,max=none"],
        "token_conditional_forced": ["tokens=16,max=16", "tokens=32,max=32"],
        "step_conditional": ["steps=2,max=none", "steps=4,max=none"],
        "step_conditional_forced": ["steps=2,stop0,max=none", "steps=4,stop0,max=none"],
        "step_injected": ["steps=2,injected,step_tokens=5,max=none"],
        "step_injected_forced": ["steps=2,injected,step_tokens=5,max=10"],
        "class_conditional": ["class=short,max=none", "class=long,max=none"],
        "rejection": ["reject,max=10", "reject,max=20", "reject=3,max=10"],
    }


def test_the_paper_step_prompt_and_the_injected_variant_differ():
    model = BudgetSetting(None, stated_steps=16, method="step_conditional")
    injected = BudgetSetting(None, stated_steps=16, step_source="injected", method="step_injected")
    assert conditioned("Q?", model) == "Q?\n\nThink for up to 16 steps."  # s1 aime/utils.py PROMPTSTEP
    assert "(each step is about 100 tokens)" in conditioned("Q?", injected)
    assert model.prompt_variant != injected.prompt_variant


class StepModel(FakeEngine):
    """A model trained with s1's step delimiters: after the opening ``<|im_start|>`` it counts
    down ``3 steps left`` .. ``0 steps left`` and then (past zero) ``-1 steps left``, and writes
    ``<|im_start|>answer`` only after that, as the paper says the model sometimes does."""

    SCRIPT = (
        "3 steps left\n a b\n<|im_start|>2 steps left\n c\n<|im_start|>1 steps left\n d y\n"
        "<|im_start|>0 steps left\n z\n<|im_start|>-1 steps left\n a\n<|im_start|>answer\n 42<eos>"
    )

    def _generate(self, requests):
        self.calls.append(requests)
        script = self.tokenizer.encode(self.SCRIPT)
        outs = []
        for r in requests:
            ctx = list(r.prompt)
            start = len(ctx) - ctx[::-1].index(T["assistant"]) + 1  # after "assistant\n"
            done = len(ctx) - start - 1  # ids after the opening <|im_start|>
            if done >= len(script) or T["answer"] in ctx[start:]:  # answer phase
                outs.append([T[" 4"], T["2"], T["<eos>"]][: r.max_tokens])
                continue
            outs.append(script[done : done + r.max_tokens])
        return outs


def test_step_conditional_stops_where_the_model_writes_its_zero_and_counts_no_delimiter():
    engine = StepModel()
    forcing = fake_forcing(engine, delimiters=DelimiterText(), max_answer_tokens=None)
    forced = BudgetSetting(None, stated_steps=3, stop_at_zero=True, method="step_conditional_forced")
    free = BudgetSetting(None, stated_steps=3, method="step_conditional")
    out = run_settings(engine, forcing, items(2), [forced, free])
    for per in out:
        f, n = per[forced.label], per[free.label]
        assert f.thinking_text == (
            "3 steps left\n a b\n<|im_start|>2 steps left\n c\n<|im_start|>1 steps left\n d y\n"
        )
        assert f.thinking.end == "natural" and f.extra["steps_used"] == 3
        assert n.extra["steps_used"] == 5 and "-1 steps left" in n.thinking_text  # the model's own end
        # s1's count: the steps' text only (" a b\n", " c\n", " d y\n"), no delimiter
        assert f.extra["s1_thinking_tokens"] == len(engine.tokenizer.encode(" a b\n c\n d y\n"))
        assert f.extra["s1_thinking_tokens"] < len(f.thinking.ids)
        assert f.answer_text == " 42"
    prompts = [engine.tokenizer.decode(r.prompt) for call in engine.calls for r in call]
    assert all(p.endswith("assistant\n<|im_start|>") or "answer" in p for p in prompts)
    assert any("Think for up to 3 steps." in p for p in prompts)


def test_injected_steps_state_the_steps_left_and_the_forced_variant_stops_at_zero():
    engine = FakeEngine()
    forcing = fake_forcing(engine, delimiters=DelimiterText(thinking_end=("<|im_start|>answer",)))
    samples = samples_for(forcing, 10)
    forced = run_steps(
        engine,
        forcing,
        samples,
        BudgetSetting(
            3 * 6, stated_steps=3, step_tokens=6, step_source="injected", method="step_injected_forced"
        ),
    )
    free = run_steps(
        engine,
        forcing,
        samples,
        BudgetSetting(None, stated_steps=3, step_tokens=6, step_source="injected", method="step_injected"),
    )
    for r in forced:
        assert len(r.thinking.ids) <= 18 and r.extra["steps_used"] <= 3
        if r.thinking.end == "budget" and r.extra["steps_used"] >= 2:
            assert "2 steps left" in r.thinking_text
        assert "0 steps left" not in r.thinking_text
    assert any(len(r.thinking.ids) > 18 for r in free), "without forcing thinking may pass the steps"


def test_rejection_sampling_resamples_until_thinking_fits_and_never_forces():
    engine = FakeEngine()
    forcing = fake_forcing(
        engine, temperature=1.0, delimiters=DelimiterText(thinking_end=("<|im_start|>answer",))
    )
    samples = samples_for(forcing, 12)
    results = run_rejection(engine, forcing, samples, BudgetSetting(6, method="rejection"))
    for r in results:  # no limit: every sample is accepted, ending on its own within the budget
        assert r.extra["accepted"] and r.thinking.end == "natural" and len(r.thinking.ids) <= 6
        assert r.thinking.forced == 0 and "Final Answer" not in r.answer_text
    assert any(r.extra["tries"] > 1 for r in results)


def test_a_rejection_sample_past_its_try_limit_is_not_accepted_and_has_no_answer():
    engine = FakeEngine()
    forcing = fake_forcing(
        engine, temperature=1.0, delimiters=DelimiterText(thinking_end=("<|im_start|>answer",))
    )
    samples = samples_for(forcing, 12)
    results = run_rejection(engine, forcing, samples, BudgetSetting(4, max_tries=2, method="rejection"))
    refused = [r for r in results if not r.extra["accepted"]]
    assert refused, "a budget of 4 tokens refuses some samples within 2 tries"
    for r in refused:
        assert r.extra["tries"] == 2 and r.answer_text == "" and r.answer_ids == []
    answered = {len(call) for call in engine.calls if call and call[0].stop == forcing.answer_stop}
    assert answered == {len(results) - len(refused)}, "only accepted samples are answered"
    for r in results:
        if r.extra["accepted"]:
            assert r.thinking.end == "natural" and len(r.thinking.ids) <= 4


def test_run_settings_runs_every_method_with_its_prompt():
    engine = FakeEngine()
    forcing = fake_forcing(engine, temperature=1.0)
    settings = Sweep(
        max_thinking_tokens=[4, 12],
        methods=[
            {"method": "token_conditional", "tokens": [8]},
            {"method": "step_conditional", "steps": [2], "step_tokens": 4, "source": "injected"},
            {"method": "class_conditional"},
            {"method": "rejection", "max_thinking_tokens": [10], "max_tries": 2},
        ],
    ).settings()
    out = run_settings(engine, forcing, items(4), settings)
    for per in out:
        assert set(per) == {s.label for s in settings}
        assert per["tokens=8,max=8"].extra["prompt_variant"] == "tokens"
        assert len(per["tokens=8,max=8"].thinking.ids) <= 8
        assert per["max=4"].extra["prompt_variant"] == "bare"
    prompts = {forcing.decode(r.prompt) for call in engine.calls for r in call}
    assert any("Think for up to 8 tokens." in p for p in prompts)
    assert any("short amount of thinking" in p for p in prompts)


def test_rejection_samples_at_its_own_temperature_under_a_greedy_spec():
    engine = FakeEngine()
    forcing = fake_forcing(
        engine, temperature=0.0, delimiters=DelimiterText(thinking_end=("<|im_start|>answer",))
    )
    setting = Sweep(methods=[{"method": "rejection", "max_thinking_tokens": [6]}]).settings()[0]
    assert setting.temperature == 1.0 and setting.label == "reject,max=6"  # s1: temperature=1
    run_rejection(engine, forcing, samples_for(forcing, 4), setting)
    assert {r.temperature for call in engine.calls for r in call} == {1.0}
