"""``jobs/curate-*.yaml``: which steps to run, the sources, and each step's settings.

Defaults follow the s1 paper and its repository (simplescaling/s1, folder ``data/``); each field
says which file it matches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.errors import FieldError
from s1slurm.curate.source_spec import CollectConfig, SourceConfig
from s1slurm.eval.benchmarks import BenchmarkConfig
from s1slurm.eval.engines.settings import EngineSettings
from s1slurm.eval.spec import Delimiters

StepName = Literal["collect", "decontaminate", "traces", "attempts", "domains", "select"]
STEPS: tuple[StepName, ...] = ("collect", "decontaminate", "traces", "attempts", "domains", "select")
MODEL_STEPS = frozenset({"traces", "attempts", "domains"})  # job arrays sharded over questions
Strategy = Literal["s1", "s1-notebook", "random", "diversity-only", "longest", "full"]


class NearDupConfig(Strict):
    """MinHash near-duplicate removal across sources (datasketch's MinHashLSH)."""

    enabled: bool = True
    threshold: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="estimated Jaccard similarity that makes a pair "
        "near-duplicates (text-dedup's default 0.7)",
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    shingle: int = Field(3, ge=1, le=13, description="word n-gram size of the shingles")


def _default_against() -> list[BenchmarkConfig]:
    return [
        BenchmarkConfig(name="aime24"),
        BenchmarkConfig(name="math500"),
        BenchmarkConfig(name="gpqa_diamond"),
    ]


class DecontaminateConfig(Strict):
    """Word n-gram decontamination against the evaluation sets, then near-duplicates."""

    # simplescaling/s1 data/collect_data.py: decontaminate_train_data(..., ngram_size=8)
    ngram: int = Field(8, ge=1, le=50, description="word n-gram size (8 as s1; 13 as lm-evaluation-harness)")
    with_answer: bool = Field(False, description="also match n-grams of question + answer")
    against: list[BenchmarkConfig] = Field(
        default_factory=_default_against, description="evaluation sets (eval's benchmark entries)"
    )
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)


class ModelStepConfig(EngineSettings):
    """How a model step loads its model(s): the evaluation stage's engine settings, plus sharding."""

    shards: int = Field(1, ge=1, description="array tasks, sharded over the questions")
    cluster: dict[str, Any] = Field(default_factory=dict, description="cluster overrides for this step")


class TraceFields(Strict):
    """Which keys of the collected rows already hold the traces (the ``collect`` schema's ``solution``,
    ``answer``, ...; a column kept only in ``metadata`` is not one): ``thinking`` and ``attempt``, or
    ``output``, a whole teacher output split into both with ``traces.delimiters`` (``preset: r1``
    for ``<think>...</think>`` teachers, ``s1`` for s1's two-part format)."""

    thinking: str | None = Field(
        None, min_length=1, description="row key holding the thinking (e.g. solution)"
    )
    attempt: str | None = Field(None, min_length=1, description="row key holding the attempt (e.g. answer)")
    output: str | None = Field(None, min_length=1, description="row key holding a whole output to split")

    @model_validator(mode="after")
    def _which(self) -> TraceFields:
        if (self.output is None) == (self.thinking is None or self.attempt is None) or (
            self.output is not None and (self.thinking or self.attempt)
        ):
            raise ValueError("give 'thinking' and 'attempt', or 'output' alone")
        return self

    def keys(self) -> dict[str, str]:
        """Role -> row key, for the check that the rows have them."""
        if self.output is not None:
            return {"output": self.output}
        assert self.thinking is not None and self.attempt is not None
        return {"thinking": self.thinking, "attempt": self.attempt}

    def label(self) -> str:
        return f"fields:{','.join(self.keys().values())}"


class TracesConfig(ModelStepConfig):
    """The teacher writes a thinking trace and an attempt per question (s1 used Gemini Flash
    Thinking through its API, data/gemini.py; s1.1 DeepSeek-R1). Budget-free generation, framed by
    ``delimiters`` (``preset: r1`` for teachers that think in ``<think>...</think>``: R1, its distills,
    QwQ, Qwen3). Each attempt is graded against the row's answer (``teacher_correct``).

    With ``from_fields`` instead of ``model``, the traces are the rows' own (a source that comes
    with worked solutions): a CPU step, no model, the same output columns and flags."""

    model: str | None = Field(None, description="teacher model: local folder, hub id or 'smollm2'")
    from_fields: TraceFields | None = Field(
        None,
        description="take thinking and attempt from these row "
        "keys instead of a teacher (e.g. {thinking: solution, attempt: answer})",
    )
    max_thinking_tokens: int = Field(32768, ge=1, description="a trace reaching it is flagged 'cut_off'")
    max_answer_tokens: int = Field(4096, ge=1)
    delimiters: Delimiters = Field(default_factory=Delimiters)
    system_prompt: str | None = None


class AttemptsConfig(ModelStepConfig):
    """Smaller models answer each question; each answer is graded against the reference.

    s1 paper section 2: Qwen2.5-7B-Instruct and Qwen2.5-32B-Instruct; a question either solved is
    'too easy' (data/featurization.py, upload_grading's isqwen7bcorrect / isqwen32bcorrect)."""

    models: list[str] = Field(
        default_factory=lambda: ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-32B-Instruct"], min_length=1
    )
    max_tokens: int = Field(
        32768,
        ge=1,
        description="s1: data/bulk_inference.py (max_length 32768; cut to the context the prompt leaves)",
    )
    judge: str | None = Field(
        None,
        description="optional LLM judge model (same engine), asked Yes/No as "
        "s1's data/grading.txt, when the grader cannot decide",
    )


class DomainsConfig(ModelStepConfig):
    """MSC 2020 top-level area per question (s1: data/featurization.py do_domain_classification)."""

    use_source: bool = Field(True, description="keep a source's own domain field when a row has one")
    model: str | None = Field(None, description="classifier model (needed for rows without a domain)")
    retries: int = Field(2, ge=0, description="new tries when the answer has no two-digit code")
    max_tokens: int = Field(256, ge=8)


class PreselectRule(Strict):
    """Rows taken before the diversity sampling (s1's data/filter.ipynb, cell 14: teacher-correct GPQA
    and AIME questions, and teacher-correct MATH questions thinking longer than 5,600 tokens)."""

    sources: list[str] = Field(..., min_length=1, description="source names (the spec's sources.*.name)")
    teacher_correct: bool = Field(True, description="only rows whose teacher attempt was graded correct")
    thinking_tokens_over: int | None = Field(
        None,
        ge=0,
        description="only rows whose thinking is longer "
        "than this many target-tokenizer tokens (s1: 5600 for MATH)",
    )


class NotebookMix(Strict):
    """filter.ipynb's later domain weighting: after ``after`` picks, domains are drawn from a mix of
    the domain distributions of ``weights``' sources (s1: AIME 1, GPQA 0.5) instead of uniformly."""

    after: int = Field(
        700, ge=0, description="picks (pre-selection included) drawn uniformly first (s1: 700)"
    )
    weights: dict[str, float] = Field(
        ...,
        min_length=1,
        description="source name -> weight of its domain distribution (s1: {aime: 1.0, gpqa: 0.5})",
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w <= 0 for w in v.values()):
            raise ValueError("every weight must be above 0")
        return v


class SelectConfig(Strict):
    """Quality, difficulty and diversity selection (s1 paper section 2), or an ablation."""

    n: int = Field(1000, ge=1, description="questions to select (s1K: 1000)")
    strategy: Strategy = Field(
        "s1",
        description="s1 (the paper's Algorithm 1) | s1-notebook (filter.ipynb: "
        "Algorithm 1, then the 'mix' domain weighting) | random | diversity-only | "
        "longest | full",
    )
    seed: int = Field(0, ge=0)
    tokenizer: str = Field(
        "Qwen/Qwen2.5-32B-Instruct",
        description="measures trace length (the target model's; s1: data/tokenization.py)",
    )
    keep_sources: list[str] = Field(
        default_factory=list,
        description="every row of these sources that "
        "passes the filters is selected first (no correctness or length condition)",
    )
    preselect: list[PreselectRule] = Field(
        default_factory=list,
        description="rows taken before the diversity sampling (s1's filter.ipynb; see PreselectRule)",
    )
    mix: NotebookMix | None = Field(None, description="the domain weighting of strategy s1-notebook")
    columns: Literal["s1k", "s1k-1.1"] = Field(
        "s1k",
        description="the selection's column names: s1K's "
        "(thinking_trajectories, attempt) or s1K-1.1's "
        "(deepseek_thinking_trajectory, deepseek_attempt)",
    )
    allow_asymptote: bool = Field(False, description="keep questions with Asymptote ([asy]) figures")
    asymptote_sources: list[str] = Field(
        default_factory=list,
        description="sources whose Asymptote figures "
        "are kept (s1's data/filter.ipynb kept them for its AIME source)",
    )

    @model_validator(mode="after")
    def _mix(self) -> SelectConfig:
        if (self.strategy == "s1-notebook") != (self.mix is not None):
            raise ValueError(
                "strategy s1-notebook needs 'mix' (e.g. {after: 700, weights: {aime: 1.0, gpqa: 0.5}}),"
                " and 'mix' is for strategy s1-notebook only"
            )
        return self


class CurateSpec(JobSpec):
    """``jobs/curate-*.yaml``: the s1K curation pipeline, one submission per step (chained)."""

    stage: str = "curate"
    out: Path = Field(..., description="the curation folder: every step's dataset, rejects and reports")
    steps: list[StepName] = Field(
        default_factory=lambda: list(STEPS), min_length=1, description="steps to run, in pipeline order"
    )
    sources: list[SourceConfig] = Field(default_factory=list)
    collect: CollectConfig = Field(default_factory=CollectConfig)
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
    def _consistent(self) -> CurateSpec:
        if "collect" in self.steps and not self.sources:
            raise FieldError("sources", "the collect step needs at least one source")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise FieldError("sources", f"source names must be unique, got {names}")
        if self.traces.model and self.traces.from_fields:
            raise FieldError(
                "traces",
                "give 'traces.model' (a teacher) or 'traces.from_fields' (the rows' own traces), not both",
            )
        known = set(names)
        named = (
            [("select.keep_sources", self.select.keep_sources)]
            + [(f"select.preselect.{i}.sources", r.sources) for i, r in enumerate(self.select.preselect)]
            + ([("select.mix.weights", list(self.select.mix.weights))] if self.select.mix else [])
        )
        for where, wanted in named:
            if known and (unknown := sorted(set(wanted) - known)):
                raise FieldError(where, f"unknown sources {unknown} (the spec's sources: {', '.join(names)})")
        if "traces" in self.steps and not (self.traces.model or self.traces.from_fields):
            raise FieldError(
                "traces", "the traces step needs 'traces.model' (the teacher) or 'traces.from_fields'"
            )
        return self

    def is_model_step(self, step: str) -> bool:
        """Whether ``step`` loads a model (a sharded job array); traces from fields are a CPU step."""
        return step in MODEL_STEPS and not (step == "traces" and self.traces.from_fields is not None)

    def model_step(self, step: str) -> ModelStepConfig:
        return {"traces": self.traces, "attempts": self.attempts, "domains": self.domains}[step]

    def shards_for(self, step: str) -> int:
        return self.model_step(step).shards if self.is_model_step(step) else 1
