"""``jobs/curate-*.yaml``: which steps to run, the sources, and each step's settings.

Defaults follow the s1 paper and its repository (simplescaling/s1, folder ``data/``); each field
says which file it matches.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.errors import FieldError
from s1slurm.eval.benchmarks import BenchmarkConfig
from s1slurm.eval.engines.settings import EngineSettings
from s1slurm.eval.spec import Delimiters

StepName = Literal["collect", "decontaminate", "traces", "attempts", "domains", "select"]
STEPS: tuple[str, ...] = ("collect", "decontaminate", "traces", "attempts", "domains", "select")
MODEL_STEPS = frozenset({"traces", "attempts", "domains"})  # job arrays sharded over questions
Strategy = Literal["s1", "random", "diversity-only", "longest", "full"]
_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")
_FIELD_KEYS = ("id", "question", "solution", "answer", "domain")


class SourceConfig(Strict):
    """One candidate source: a local JSON Lines / JSON / parquet file, or a hub dataset."""

    name: str = Field(..., description="source name (the s1K 'source_type' of its rows)")
    path: Path | None = Field(None, description="local .jsonl, .json or .parquet file")
    hub_id: str | None = Field(None, description="hub dataset id (or a local dataset folder)")
    hub_config: str | None = None
    split: str = "train"
    fields: dict[str, str] = Field(default_factory=dict,
                                   description="our key -> column: id, question (required), solution, "
                                               "answer, domain")
    metadata: list[str] = Field(default_factory=list, description="other columns kept in 'metadata'")
    cot_type: str = Field("math", description="the s1K 'cot_type' of its rows (math, science, ...)")
    limit: int | None = Field(None, ge=1, description="read only the first N rows")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-100 characters of A-Z a-z 0-9 _ . + -")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(v) - set(_FIELD_KEYS))
        if bad:
            raise ValueError(f"unknown keys {bad} (allowed: {', '.join(_FIELD_KEYS)})")
        return v

    @model_validator(mode="after")
    def _one_place(self) -> "SourceConfig":
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("give exactly one of 'path' (a local file) or 'hub_id'")
        return self

    def column(self, key: str) -> str | None:
        """The column mapped to ``key``; ``question`` defaults to the column ``question``."""
        if key in self.fields:
            return self.fields[key]
        return "question" if key == "question" else None


class NearDupConfig(Strict):
    """MinHash near-duplicate removal across sources (datasketch's MinHashLSH)."""

    enabled: bool = True
    threshold: float = Field(0.7, gt=0, lt=1, description="estimated Jaccard similarity that makes a pair "
                                                          "near-duplicates (text-dedup's default 0.7)")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    shingle: int = Field(3, ge=1, le=13, description="word n-gram size of the shingles")


def _default_against() -> list[BenchmarkConfig]:
    return [BenchmarkConfig(name="aime24"), BenchmarkConfig(name="math500"),
            BenchmarkConfig(name="gpqa_diamond")]


class DecontaminateConfig(Strict):
    """Word n-gram decontamination against the evaluation sets, then near-duplicates."""

    # simplescaling/s1 data/collect_data.py: decontaminate_train_data(..., ngram_size=8)
    ngram: int = Field(8, ge=1, le=50, description="word n-gram size (8 as s1; 13 as lm-evaluation-harness)")
    with_answer: bool = Field(False, description="also match n-grams of question + answer")
    against: list[BenchmarkConfig] = Field(default_factory=_default_against,
                                           description="evaluation sets (eval's benchmark entries)")
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)


class ModelStepConfig(EngineSettings):
    """How a model step loads its model(s): the evaluation stage's engine settings, plus sharding."""

    shards: int = Field(1, ge=1, description="array tasks, sharded over the questions")
    cluster: dict[str, Any] = Field(default_factory=dict, description="cluster overrides for this step")


class TraceFields(Strict):
    """Which keys of the collected rows already hold the thinking trace and the attempt (the
    ``collect`` schema's ``solution``, ``answer``, ...; a column kept only in ``metadata`` is not one)."""

    thinking: str = Field(..., min_length=1, description="row key holding the thinking trace (e.g. solution)")
    attempt: str = Field(..., min_length=1, description="row key holding the attempt (e.g. answer)")


class TracesConfig(ModelStepConfig):
    """The teacher writes a thinking trace and an attempt per question (s1 used Gemini Flash
    Thinking through its API, data/gemini.py; s1.1 DeepSeek-R1). Budget-free generation.

    With ``from_fields`` instead of ``model``, the traces are the rows' own (a source that comes
    with worked solutions): a CPU step, no model, the same output columns and flags."""

    model: str | None = Field(None, description="teacher model: local folder, hub id or 'smollm2'")
    from_fields: TraceFields | None = Field(None, description="take thinking and attempt from these row "
                                            "keys instead of a teacher (e.g. {thinking: solution, attempt: answer})")
    max_thinking_tokens: int = Field(32768, ge=1, description="a trace reaching it is flagged 'cut_off'")
    max_answer_tokens: int = Field(4096, ge=1)
    delimiters: Delimiters = Field(default_factory=Delimiters)
    system_prompt: str | None = None


class AttemptsConfig(ModelStepConfig):
    """Smaller models answer each question; each answer is graded against the reference.

    s1 paper section 2: Qwen2.5-7B-Instruct and Qwen2.5-32B-Instruct; a question either solved is
    'too easy' (data/featurization.py, upload_grading's isqwen7bcorrect / isqwen32bcorrect)."""

    models: list[str] = Field(default_factory=lambda: ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-32B-Instruct"],
                              min_length=1)
    max_tokens: int = Field(32768, ge=1, description="s1: data/bulk_inference.py (max_length 32768; cut "
                            "to the context the prompt leaves)")
    judge: str | None = Field(None, description="optional LLM judge model (same engine), asked Yes/No as "
                                                "s1's data/grading.txt, when the grader cannot decide")


class DomainsConfig(ModelStepConfig):
    """MSC 2020 top-level area per question (s1: data/featurization.py do_domain_classification)."""

    use_source: bool = Field(True, description="keep a source's own domain field when a row has one")
    model: str | None = Field(None, description="classifier model (needed for rows without a domain)")
    retries: int = Field(2, ge=0, description="new tries when the answer has no two-digit code")
    max_tokens: int = Field(256, ge=8)


class SelectConfig(Strict):
    """Quality, difficulty and diversity selection (s1 paper section 2), or an ablation."""

    n: int = Field(1000, ge=1, description="questions to select (s1K: 1000)")
    strategy: Strategy = Field("s1", description="s1 | random | diversity-only | longest | full")
    seed: int = Field(0, ge=0)
    tokenizer: str = Field("Qwen/Qwen2.5-32B-Instruct", description="measures trace length (the target "
                           "model's; s1: data/tokenization.py)")
    keep_sources: list[str] = Field(default_factory=list, description="pre-selection: every row of these "
                                    "sources that passes the filters is selected first")
    allow_asymptote: bool = Field(False, description="keep questions with Asymptote ([asy]) figures")
    asymptote_sources: list[str] = Field(default_factory=list, description="sources whose Asymptote figures "
                                         "are kept (s1's data/filter.ipynb kept them for its AIME source)")


class CurateSpec(JobSpec):
    """``jobs/curate-*.yaml``: the s1K curation pipeline, one submission per step (chained)."""

    stage: str = "curate"
    out: Path = Field(..., description="the curation folder: every step's dataset, rejects and reports")
    steps: list[StepName] = Field(default_factory=lambda: list(STEPS), min_length=1,
                                  description="steps to run, in pipeline order")
    sources: list[SourceConfig] = Field(default_factory=list)
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    traces: TracesConfig = Field(default_factory=TracesConfig)
    attempts: AttemptsConfig = Field(default_factory=AttemptsConfig)
    domains: DomainsConfig = Field(default_factory=DomainsConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or v != sorted(v, key=STEPS.index):
            raise ValueError(f"each step once, in pipeline order: {', '.join(STEPS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "CurateSpec":
        if "collect" in self.steps and not self.sources:
            raise FieldError("sources", "the collect step needs at least one source")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise FieldError("sources", f"source names must be unique, got {names}")
        if self.traces.model and self.traces.from_fields:
            raise FieldError("traces", "give 'traces.model' (a teacher) or 'traces.from_fields' (the rows' "
                             "own traces), not both")
        if "traces" in self.steps and not (self.traces.model or self.traces.from_fields):
            raise FieldError("traces", "the traces step needs 'traces.model' (the teacher) or 'traces.from_fields'")
        return self

    def is_model_step(self, step: str) -> bool:
        """Whether ``step`` loads a model (a sharded job array); traces from fields are a CPU step."""
        return step in MODEL_STEPS and not (step == "traces" and self.traces.from_fields is not None)

    def model_step(self, step: str) -> ModelStepConfig:
        return {"traces": self.traces, "attempts": self.attempts, "domains": self.domains}[step]

    def shards_for(self, step: str) -> int:
        return self.model_step(step).shards if self.is_model_step(step) else 1
