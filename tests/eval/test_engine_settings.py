"""One definition of how a spec asks for an engine: the eval spec and curation's model steps take
the same fields, with the same checks, and build the same EngineConfig; one rule reads ``model:``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from s1slurm.core.errors import ConfigError
from s1slurm.curate.spec import AttemptsConfig, TracesConfig
from s1slurm.eval.engines.settings import EngineSettings
from s1slurm.eval.spec import EvalSpec
from s1slurm.models.resolve import is_smollm2, looks_local, resolve_model

ENGINE = {
    "engine": "transformers",
    "dtype": "float32",
    "max_model_len": 512,
    "seed": 7,
    "batch_size": 3,
    "batch_invariant": False,
    "engine_args": {"attn_implementation": "eager"},
    "engine_env": {"OMP_NUM_THREADS": "2"},
    "temperature": 0.6,
    "top_p": 0.9,
}


def test_eval_spec_and_model_steps_build_the_same_engine_config():
    spec = EvalSpec.model_validate({"model": "org/model", "benchmarks": [{"name": "aime24"}], **ENGINE})
    step = TracesConfig.model_validate({"model": "org/model", **ENGINE})
    assert isinstance(spec, EngineSettings) and isinstance(step, EngineSettings)
    assert spec.engine_config("org/model") == step.engine_config("org/model")
    config = step.engine_config("org/model")
    assert (config.kind, config.dtype, config.seed, config.batch_invariant, config.env) == (
        "transformers",
        "float32",
        7,
        False,
        {"OMP_NUM_THREADS": "2"},
    )
    assert spec.effective_batch_size() == step.effective_batch_size() == 3
    assert not spec.is_batch_invariant()


def test_engine_defaults_and_checks_hold_in_both_places():
    for build in (
        lambda **kw: EvalSpec.model_validate({"model": "m", "benchmarks": [{"name": "aime24"}], **kw}),
        lambda **kw: AttemptsConfig.model_validate(kw),
    ):
        assert (
            build().effective_batch_size() == 64 and build(engine="transformers").effective_batch_size() == 4
        )
        # transformers runs one request at a time unless told otherwise; vLLM is not batch-invariant by default
        assert build(engine="transformers").is_batch_invariant() and not build().is_batch_invariant()
        with pytest.raises(ValidationError, match="tensor_parallel_size"):
            build(engine="transformers", tensor_parallel_size=2)
        with pytest.raises(ValidationError, match="top_p"):
            build(top_p=0)


def test_one_rule_reads_a_model_name(tmp_path: Path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    assert resolve_model(str(folder)) == str(folder.resolve())
    assert resolve_model("Qwen/Qwen2.5-32B-Instruct") == "Qwen/Qwen2.5-32B-Instruct"  # a hub id stays one
    assert looks_local("./not-yet-there") and not looks_local("org/model")
    assert is_smollm2("smollm2") and is_smollm2("smollm2:4") and not is_smollm2("smollm2-135m")
    with pytest.raises(ConfigError, match="smollm2 or smollm2:<number of layers>"):
        resolve_model("smollm2:four", file="jobs/x.yaml")
