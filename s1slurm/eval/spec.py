"""The eval job spec (``jobs/eval-*.yaml``): model, engine, benchmarks, sweep, sampling, shards."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.dataload import looks_local
from s1slurm.core.errors import ConfigError, FieldError
from s1slurm.eval.benchmarks import BenchmarkConfig
from s1slurm.eval.engines.base import engine_version
from s1slurm.eval.engines.settings import EngineSettings
from s1slurm.eval.forcing import Forcing
from s1slurm.eval.prompts import ConditionPrompts, conditioned
from s1slurm.eval.records import BudgetSetting
from s1slurm.models.delimiters import PRESETS, DelimiterText, PresetName
from s1slurm.models.resolve import is_smollm2, resolve_model


class Delimiters(Strict):
    """Strings that frame thinking and the answer: a ``preset`` (``s1``, the default, or ``r1`` for
    models that think in ``<think>...</think>``), each field overridable.

    s1's thinking ends at the single token ``<|im_start|>`` (s1's ``until_thinking``), never at the
    two-token ``<|im_start|>answer``: a cap cannot fall between the two tokens and leave a stray
    ``<|im_start|>`` in the thinking."""

    preset: PresetName = Field("s1", description="s1 (<|im_start|>think/answer) or r1 (<think>...</think>)")
    thinking_start: str = Field(
        "<|im_start|>think\n", min_length=1, description="opens the assistant turn; thinking follows"
    )
    thinking_end: list[str] = Field(
        ["<|im_start|>"], description="any of these ends thinking (the model's end of turn too)"
    )
    answer_start: str = Field(
        "<|im_start|>answer\n", min_length=1, description="appended after thinking; the answer follows"
    )
    final_answer: str = Field("Final Answer:", description="appended too when the budget cut thinking")

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        # Fields not written in the spec come from the preset (an unknown preset is left to the field check).
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            base = PRESETS[data["preset"]]
            defaults = {
                "thinking_start": base.thinking_start,
                "thinking_end": list(base.thinking_end),
                "answer_start": base.answer_start,
                "final_answer": base.final_answer,
            }
            return {**defaults, **data}
        return data

    @field_validator("thinking_end")
    @classmethod
    def _no_empty(cls, v: list[str]) -> list[str]:
        if any(not s for s in v):
            raise ValueError("delimiters must be non-empty strings")
        return v

    def text(self) -> DelimiterText:
        return DelimiterText(
            self.thinking_start, tuple(self.thinking_end), self.answer_start, self.final_answer
        )


class TokenConditional(Strict):
    """Token-conditional control: the thinking budget is stated in the prompt (s1's PROMPTTOKEN).
    ``budget_forcing: true`` also caps thinking at the stated budget (the paper's "+ budget forcing"
    rows: method ``token_conditional_forced``)."""

    method: Literal["token_conditional"]
    tokens: list[int] = Field(..., min_length=1, description="budgets stated in the prompt")
    budget_forcing: list[bool] = Field([False, True], min_length=1)

    def settings(self) -> list[BudgetSetting]:
        return [
            BudgetSetting(
                n if forced else None,
                stated_tokens=n,
                method="token_conditional_forced" if forced else "token_conditional",
            )
            for forced in self.budget_forcing
            for n in self.tokens
        ]

    @field_validator("tokens")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError("stated budgets must be >= 1")
        return v


class StepConditional(Strict):
    """Step-conditional control, the number of steps stated in the prompt ("Think for up to N
    steps.", s1's PROMPTSTEP).

    ``source: model`` (the paper's, the default) needs a model trained to write its own step
    delimiters (``<|im_start|>N steps left``, the paper's Figure 10; s1 evaluates
    ``simplescaling/step-conditional-control``): thinking opens with ``<|im_start|>`` and, with
    ``budget_forcing: true`` (method ``step_conditional_forced``), ends where the model writes
    ``<|im_start|>0`` (s1 eval/commands.sh lines 70-74: ``until_thinking=<|im_start|>0``).
    Without it the model ends its thinking itself. Delimiters are not counted as thinking tokens
    by s1's count (the paper's Table 13).

    ``source: injected`` is not the paper's method: for models never trained with step
    delimiters, thinking runs in rounds of ``step_tokens`` tokens and the steps left are written
    in after each; the forced variant caps thinking at steps x ``step_tokens`` (methods
    ``step_injected`` / ``step_injected_forced``)."""

    method: Literal["step_conditional"]
    steps: list[int] = Field(..., min_length=1)
    source: Literal["model", "injected"] = Field("model", description="model: the paper's; injected: not")
    step_tokens: int = Field(
        100,
        ge=1,
        description="injected: tokens per step; model: the 100 tokens per "
        "step that Control allows (the paper, Appendix E.1)",
    )
    budget_forcing: list[bool] = Field([False, True], min_length=1)

    def settings(self) -> list[BudgetSetting]:
        if self.source == "model":
            return [
                BudgetSetting(
                    None,
                    stated_steps=n,
                    step_tokens=self.step_tokens,
                    stop_at_zero=forced,
                    method="step_conditional_forced" if forced else "step_conditional",
                )
                for forced in self.budget_forcing
                for n in self.steps
            ]
        return [
            BudgetSetting(
                n * self.step_tokens if forced else None,
                stated_steps=n,
                step_tokens=self.step_tokens,
                step_source="injected",
                method="step_injected_forced" if forced else "step_injected",
            )
            for forced in self.budget_forcing
            for n in self.steps
        ]

    @field_validator("steps")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError("step counts must be >= 1")
        return v


class ClassConditional(Strict):
    """Class-conditional control: a generic prompt asking for short or long thinking (s1's
    PROMPTSHORT / PROMPTLONG), optionally under a cap for both classes. The report scores its
    Control as the paper does (Appendix E.1): "short" must think less and "long" more than the
    bare prompt, so the sweep should also run the bare prompt (``max_thinking_tokens: [null]``)."""

    method: Literal["class_conditional"]
    classes: list[Literal["short", "long"]] = Field(["short", "long"], min_length=1)
    max_thinking_tokens: int | None = Field(None, ge=1, description="a cap for both (null: none)")

    def settings(self) -> list[BudgetSetting]:
        return [
            BudgetSetting(self.max_thinking_tokens, thinking_class=c, method="class_conditional")
            for c in self.classes
        ]


class Rejection(Strict):
    """Rejection sampling as s1 ran it (``rejection_sample=true``, temperature 1): thinking is
    sampled again until it ends naturally within the budget, with no limit on tries by default.
    ``max_tries`` sets a limit: a sample that never fits is then recorded as *not accepted*, with
    no answer (graded as no answer and counted in the report) -- it is never cut and answered,
    which would be budget forcing."""

    method: Literal["rejection"]
    max_thinking_tokens: list[int] = Field(..., min_length=1)
    max_tries: int | None = Field(None, ge=1, description="null: until accepted (s1)")
    temperature: float = Field(
        1.0,
        gt=0,
        description="sampling temperature of these settings (s1: "
        "temperature=1, eval/commands.sh 'Rejection sampling'); the spec's applies "
        "to the other methods",
    )

    def settings(self) -> list[BudgetSetting]:
        return [
            BudgetSetting(b, max_tries=self.max_tries or 0, method="rejection", temperature=self.temperature)
            for b in self.max_thinking_tokens
        ]

    @field_validator("max_thinking_tokens")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError("budgets must be >= 1")
        return v


MethodBlock = Annotated[
    TokenConditional | StepConditional | ClassConditional | Rejection, Field(discriminator="method")
]


class Sweep(Strict):
    """The budget settings to evaluate.

    ``max_thinking_tokens`` alone: one setting per budget (method ``max``). ``num_ignore`` alone:
    one setting per count of suppressed ends, capped by ``ignore_max_thinking_tokens`` (method
    ``ignore``). Both: both curves, the ignore curve capped by ``ignore_max_thinking_tokens`` or
    else the largest budget; with ``grid: true`` every (budget, num_ignore) pair instead. ``null``
    as a budget means no cap but the context. ``methods:`` adds the paper's other test-time
    methods (each block has ``method:`` token_conditional, step_conditional, class_conditional or
    rejection; step_conditional with ``source: injected`` is a variant that is not the paper's).
    Settings with the same label are evaluated once.
    """

    max_thinking_tokens: list[int | None] = Field(default_factory=list)
    num_ignore: list[int] = Field(default_factory=list)
    ignore_max_thinking_tokens: int | None = Field(None, ge=0)
    grid: bool = False
    min_thinking_tokens: int = Field(0, ge=0)
    min_mode: Literal["append", "suppress"] = Field(
        "append",
        description="reach min_thinking_tokens by appending the ignore string at each early "
        "end, or by suppressing the end-of-thinking token (s1's min_tokens_thinking)",
    )
    ignore_string: str = Field(
        "Wait",
        description="appended at each suppressed end ('' appends "
        "nothing: the paper's 'without string' ablation)",
    )
    methods: list[MethodBlock] = Field(default_factory=list)

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
    def _valid_settings(self) -> Sweep:
        try:
            self.settings()
        except ValueError as e:
            raise ValueError(f"min_thinking_tokens {self.min_thinking_tokens}: {e}") from None
        return self

    def settings(self) -> list[BudgetSetting]:
        """Every setting of the sweep, in a stable order, without duplicate labels."""
        common: dict[str, Any] = {
            "min_thinking_tokens": self.min_thinking_tokens,
            "ignore_string": self.ignore_string,
            "min_mode": self.min_mode,
        }
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
        others = [s for block in self.methods for s in block.settings()]
        if not out and not others:
            out = [BudgetSetting(None, method="none", **common)]
        out += others
        seen: dict[str, BudgetSetting] = {}
        for s in out:
            seen.setdefault(s.label, s)
        return list(seen.values())


class EvalSpec(EngineSettings, JobSpec):
    """``jobs/eval-*.yaml``: evaluate a model under budget forcing, as a job array (the engine's
    fields, shared with curation's model steps, are :class:`EngineSettings`)."""

    stage: str = "eval"
    model: str = Field(
        ..., min_length=1, description="local model folder, hub id, or 'smollm2' (SmolLM2-135M-Instruct)"
    )
    benchmarks: list[BenchmarkConfig] = Field(..., min_length=1)
    sweep: Sweep = Field(default_factory=Sweep)
    delimiters: Delimiters = Field(default_factory=Delimiters)
    system_prompt: str | None = Field(None, description="system message (default: the model's own)")
    samples: int = Field(1, ge=1, description="samples per question")
    max_answer_tokens: int | Literal["auto"] = Field(
        "auto", description="answer tokens; 'auto': the rest of the context (s1: max_gen_toks)"
    )
    prompts: ConditionPrompts = Field(
        default_factory=ConditionPrompts, description="prompts of the conditional-control methods"
    )
    shards: int | dict[str, int] = Field(1, description="array tasks per benchmark (or per label)")
    ladder: bool = Field(True, description="derive all settings from one trace per sample")

    @field_validator("max_answer_tokens")
    @classmethod
    def _answer(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be >= 1, or 'auto' for the rest of the context")
        return v

    @field_validator("shards")
    @classmethod
    def _shards(cls, v: int | dict[str, int]) -> int | dict[str, int]:
        values = v.values() if isinstance(v, dict) else [v]
        if any(n < 1 for n in values):
            raise ValueError("shard counts must be >= 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> EvalSpec:
        if any(
            s.method == "rejection" and not (self.temperature if s.temperature is None else s.temperature)
            for s in self.settings()
        ):
            raise FieldError(
                "temperature",
                "rejection sampling needs temperature > 0 (greedy decoding repeats the "
                "same thinking at every try; s1 used temperature 1)",
            )
        return self

    # -- derived values ------------------------------------------------------------------------

    def settings(self) -> list[BudgetSetting]:
        return self.sweep.settings()

    def shards_for(self, label: str) -> int:
        return self.shards.get(label, 1) if isinstance(self.shards, dict) else self.shards

    def answer_tokens(self) -> int | None:
        """``max_answer_tokens`` as forcing takes it: None for 'auto'."""
        return None if self.max_answer_tokens == "auto" else int(self.max_answer_tokens)

    def resolved_model(self) -> str:
        """The folder or hub id to load (``smollm2`` is built once into the local cache)."""
        return resolve_model(self.model)

    def run_description(self) -> dict[str, Any]:
        """What runs, for the manifest and the report header: engine and its installed version,
        dtype, tensor-parallel size, batch size and whether kernels are batch-invariant (the
        transformers engine runs one request at a time unless told otherwise, so it is by default)."""
        return {
            "engine": self.engine,
            "engine_version": engine_version(self.engine),
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "batch_size": self.effective_batch_size(),
            "batch_invariant": self.is_batch_invariant(),
        }


# ---------------------------------------------------------------------------- checks before submission

_SPECIAL = re.compile(r"<\|[^<>|\s]+\|>")


def load_tokenizer(spec: EvalSpec, spec_path: Path | str) -> Any | None:
    """The model's tokenizer; a ConfigError for a local folder without one. For a hub id that
    cannot be reached from here, None (the tokenizer checks are then skipped, with a warning)."""
    from transformers import AutoTokenizer

    if not is_smollm2(spec.model) and looks_local(spec.model):
        folder = Path(spec.model).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"model folder {str(folder)!r} not found",
                file=str(spec_path),
                field="model",
                expected="a local model folder, a hub id, or 'smollm2'",
            )
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"model folder {str(folder)!r} has no config.json",
                file=str(spec_path),
                field="model",
                expected="a Hugging Face model folder (save_pretrained)",
            )
        try:
            return AutoTokenizer.from_pretrained(str(folder))
        except Exception as e:  # transformers raises several types for a folder without tokenizer files
            raise ConfigError(
                f"model folder {str(folder)!r} has no usable tokenizer ({type(e).__name__})",
                file=str(spec_path),
                field="model",
                expected="tokenizer files (tokenizer.json or tokenizer_config.json) saved next to the model",
            ) from None
    model = resolve_model(spec.model, file=str(spec_path))  # a bad smollm2:<layers> alias is an error here
    try:
        return AutoTokenizer.from_pretrained(model)
    except Exception as e:
        logging.getLogger("s1slurm").warning(
            "could not load the tokenizer of %r here (%s); delimiter checks skipped",
            spec.model,
            type(e).__name__,
        )
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
        raise ConfigError(
            f"{text!r} contains characters this tokenizer does not know (unknown token)",
            expected="text the tokenizer can encode",
            **where,
        )
    back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if back != text:
        raise ConfigError(
            f"{text!r} does not survive encoding (decodes to {back!r})",
            expected="text the tokenizer can encode exactly",
            **where,
        )
    vocab = tokenizer.get_vocab()
    for special in _SPECIAL.findall(text):
        if special not in vocab or len(tokenizer.encode(special, add_special_tokens=False)) != 1:
            raise ConfigError(
                f"{special!r} is not a token of this model's tokenizer (the model does not use this format)",
                expected="delimiters made of the model's own special "
                "tokens, e.g. '<|im_start|>' for ChatML models",
                **where,
            )


def check_tokenizer(spec: EvalSpec, tokenizer: Any, spec_path: Path | str) -> None:
    """Chat template present; every delimiter and the ignore string encodable."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "the model's tokenizer has no chat template",
            file=str(spec_path),
            field="model",
            expected="a chat (instruct) model with a chat template",
        )
    d = spec.delimiters
    items = [("delimiters.thinking_start", d.thinking_start), ("delimiters.answer_start", d.answer_start)]
    if spec.sweep.ignore_string:
        items.append(("sweep.ignore_string", spec.sweep.ignore_string))
    items += [(f"delimiters.thinking_end[{i}]", s) for i, s in enumerate(d.thinking_end)]
    if d.final_answer:
        items.append(("delimiters.final_answer", d.final_answer))
    for field, text in items:
        check_text(tokenizer, text, spec_path=spec_path, field=field)
    if spec.sweep.min_mode == "suppress" and spec.sweep.min_thinking_tokens:
        for i, s in enumerate(d.thinking_end):
            if len(tokenizer.encode(s, add_special_tokens=False)) != 1:
                raise ConfigError(
                    f"{s!r} is not a single token: min_mode 'suppress' can only suppress "
                    "single-token ends of thinking",
                    file=str(spec_path),
                    field=f"delimiters.thinking_end[{i}]",
                    expected="single-token delimiters such as '<|im_start|>', or min_mode 'append'",
                )


def context_length(spec: EvalSpec, tokenizer: Any) -> int | None:
    """The context the engine will have: ``max_model_len`` or the model's own, when known here."""
    if spec.max_model_len:
        return spec.max_model_len
    try:
        from transformers import AutoConfig

        return int(AutoConfig.from_pretrained(spec.resolved_model()).max_position_embeddings)
    except Exception:  # unknown here (hub model offline): the engine will clamp at run time
        return None


def check_room(
    spec: EvalSpec, tokenizer: Any, questions: dict[str, list[Any]], spec_path: Path | str
) -> None:
    """The longest prompt, the largest budget and the answer must fit in the context."""

    length = context_length(spec, tokenizer)
    if length is None:
        return

    forcing = Forcing(
        tokenizer,
        eos_ids=(),
        max_model_len=length,
        delimiters=spec.delimiters.text(),
        max_answer_tokens=spec.answer_tokens(),
    )
    longest, where = 0, ""
    variants = {s.prompt_variant: s for s in spec.settings()}
    for label, qs in questions.items():
        for q in qs:
            for setting in variants.values():
                text = conditioned(q.prompt, setting, spec.prompts)
                n = len(forcing.prompt_ids(text, spec.system_prompt))
                if n > longest:
                    longest, where = n, label
    room = forcing.cap(BudgetSetting(None), longest)
    budgets = [s.max_thinking_tokens for s in spec.settings() if s.max_thinking_tokens is not None]
    if room <= 0 or (budgets and max(budgets) > room):
        need = max(budgets, default=1)
        raise ConfigError(
            f"a budget of {need} thinking tokens does not fit: the longest prompt ({where}) has {longest} "
            f"tokens, answers get {forcing.answer_room}, and the context holds {length}",
            file=str(spec_path),
            field="sweep.max_thinking_tokens" if budgets else "max_answer_tokens",
            expected=f"budgets of at most {max(room, 0)} tokens, or a larger max_model_len",
        )
