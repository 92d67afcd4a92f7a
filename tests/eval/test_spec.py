"""The eval spec's sweep: which budget settings a list of budgets and/or ignores means."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from s1slurm.eval.spec import EvalSpec, Sweep


def labels(**sweep):
    return [(s.label, s.method) for s in Sweep(**sweep).settings()]


def test_budgets_alone_give_the_max_curve():
    assert labels(max_thinking_tokens=[512, 1024]) == [("max=512", "max"), ("max=1024", "max")]


def test_ignores_alone_are_capped_by_the_ignore_cap_or_the_context():
    assert labels(num_ignore=[1, 2]) == [("ignore=1,max=none", "ignore"), ("ignore=2,max=none", "ignore")]
    assert labels(num_ignore=[2], ignore_max_thinking_tokens=4000) == [("ignore=2,max=4000", "ignore")]


def test_both_give_both_curves_the_ignore_one_within_the_largest_budget():
    assert labels(max_thinking_tokens=[256, 512], num_ignore=[0, 2]) == [
        ("max=256", "max"),
        ("max=512", "max"),
        ("ignore=2,max=512", "ignore"),
    ]  # ignore=0 at 512 is max=512
    assert labels(max_thinking_tokens=[256, None], num_ignore=[1])[-1] == ("ignore=1,max=none", "ignore")


def test_grid_gives_every_pair():
    assert labels(max_thinking_tokens=[32, 64], num_ignore=[0, 1], grid=True) == [
        ("max=32", "max"),
        ("ignore=1,max=32", "ignore"),
        ("max=64", "max"),
        ("ignore=1,max=64", "ignore"),
    ]


def test_no_sweep_is_one_uncapped_setting_and_min_and_ignore_string_apply_to_all():
    assert labels() == [("max=none", "none")]
    settings = Sweep(
        max_thinking_tokens=[64], num_ignore=[1], min_thinking_tokens=16, ignore_string="Hmm"
    ).settings()
    assert {(s.min_thinking_tokens, s.ignore_string) for s in settings} == {(16, "Hmm")}


@pytest.mark.parametrize(
    "bad",
    [
        {"max_thinking_tokens": [-1]},
        {"num_ignore": [-1]},
        {"min_thinking_tokens": 100, "max_thinking_tokens": [64]},
        {"min_mode": "sometimes"},
        {"methods": [{"method": "token_conditional", "tokens": [0]}]},
        {"methods": [{"method": "beam_search"}]},
    ],
)
def test_bad_sweeps_are_refused(bad):
    with pytest.raises(ValidationError):
        Sweep(**bad)


def test_spec_defaults_and_engine_config():
    spec = EvalSpec.model_validate({"model": "org/model", "benchmarks": [{"name": "aime24"}]})
    assert (spec.engine, spec.temperature, spec.samples, spec.shards, spec.ladder) == (
        "vllm",
        0.0,
        1,
        1,
        True,
    )
    # s1's defaults: thinking ends at the single token <|im_start|>, answers run to the end of the
    # context, the prompt is the bare question
    assert spec.delimiters.thinking_end == ["<|im_start|>"]
    assert spec.max_answer_tokens == "auto" and spec.answer_tokens() is None
    assert spec.benchmarks[0].prompt_template is None
    assert spec.effective_batch_size() == 64
    config = spec.engine_config(spec.resolved_model())
    assert (config.kind, config.model, config.tensor_parallel_size) == ("vllm", "org/model", 1)
    with pytest.raises(ValidationError, match="tensor_parallel_size"):
        EvalSpec.model_validate(
            {
                "model": "m",
                "engine": "transformers",
                "tensor_parallel_size": 2,
                "benchmarks": [{"name": "aime24"}],
            }
        )
    with pytest.raises(ValidationError):
        EvalSpec.model_validate({"model": "m", "benchmarks": []})
