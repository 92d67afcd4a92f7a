"""The budget setting and the per-sample record: one definition used by eval and report alike."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

ThinkingEnd = Literal["natural", "budget"]


METHODS = (
    "max",
    "ignore",
    "min",
    "none",
    "token_conditional",
    "token_conditional_forced",
    "step_conditional",
    "step_conditional_forced",
    "class_conditional",
    "rejection",
    "step_injected",
    "step_injected_forced",
)
"""Families of settings (curves of the report). ``token_conditional`` .. ``rejection`` are the s1
paper's other test-time methods (section 4 and Table 3 of the paper); ``step_injected*`` is a
variant for models never trained with step delimiters, not the paper's; see
:mod:`s1slurm.eval.methods`."""

NOT_THE_PAPERS = {"step_injected": "not the paper's", "step_injected_forced": "not the paper's"}
"""Methods shown with this note wherever they appear (report tables, plots, docs)."""

STEP_SOURCES = ("model", "injected")

MIN_MODES = ("append", "suppress")
THINKING_CLASSES = ("short", "long")


@dataclass(frozen=True)
class BudgetSetting:
    """How thinking is controlled for one point of a sweep.

    ``max_thinking_tokens`` caps thinking (None: no cap beyond the engine's context), counted over
    all rounds including appended ignore strings; ``num_ignore`` suppresses the end of thinking that
    many times, appending ``ignore_string`` each time (it may be empty: the paper's "without
    string" ablation); ``min_thinking_tokens`` enforces a minimum, by appending the ignore string
    at each early end (``min_mode: append``) or by suppressing the end-of-thinking token until the
    minimum is reached (``min_mode: suppress``, s1's ``min_tokens_thinking``). ``method`` names the
    family of settings a sweep varies, which is how the report groups settings into curves.

    The other test-time methods of the paper add: ``stated_tokens`` (token-conditional control:
    the budget written in the prompt), ``stated_steps``/``step_tokens`` (step-conditional control:
    thinking in steps of about ``step_tokens`` tokens, the steps left stated after each),
    ``thinking_class`` (class-conditional control: ``short`` or ``long``) and, for ``method:
    rejection``, ``max_tries`` (sample until the thinking ends within ``max_thinking_tokens``; 0:
    no limit, as s1; with a limit, a sample that never fits is recorded as not accepted).

    Step-conditional control has two sources of steps: ``model`` (the paper's: a model trained
    with step delimiters writes ``<|im_start|>N steps left`` itself; ``stop_at_zero`` ends
    thinking where it writes ``<|im_start|>0``, s1's ``until_thinking``) and ``injected`` (not the
    paper's: rounds of ``step_tokens`` tokens with the steps left written in by us).
    """

    max_thinking_tokens: int | None = None
    min_thinking_tokens: int = 0
    num_ignore: int = 0
    ignore_string: str = "Wait"
    method: str = "max"
    min_mode: str = "append"
    stated_tokens: int | None = None
    stated_steps: int | None = None
    step_tokens: int = 100
    thinking_class: str | None = None
    max_tries: int = 0
    step_source: str = "model"
    stop_at_zero: bool = False
    temperature: float | None = None  # sampling temperature of this setting (None: the spec's)

    def __post_init__(self) -> None:
        if self.max_thinking_tokens is not None and self.max_thinking_tokens < 0:
            raise ValueError("max_thinking_tokens must be >= 0")
        if self.min_thinking_tokens < 0 or self.num_ignore < 0:
            raise ValueError("min_thinking_tokens and num_ignore must be >= 0")
        if self.max_thinking_tokens is not None and self.min_thinking_tokens > self.max_thinking_tokens:
            raise ValueError("min_thinking_tokens must not exceed max_thinking_tokens")
        if self.min_mode not in MIN_MODES:
            raise ValueError(f"min_mode must be one of {MIN_MODES}")
        if self.thinking_class is not None and self.thinking_class not in THINKING_CLASSES:
            raise ValueError(f"thinking_class must be one of {THINKING_CLASSES}")
        if self.step_tokens < 1 or self.max_tries < 0:
            raise ValueError("step_tokens must be >= 1 and max_tries >= 0")
        if (self.max_tries or self.method == "rejection") and self.max_thinking_tokens is None:
            raise ValueError("rejection sampling needs max_thinking_tokens")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if self.step_source not in STEP_SOURCES:
            raise ValueError(f"step_source must be one of {STEP_SOURCES}")

    @property
    def label(self) -> str:
        """A short, stable name, e.g. ``max=512`` or ``ignore=2,max=4096``; the other methods add
        their parameters in front (``tokens=2048,max=none``, ``steps=16,stop0,max=none``,
        ``steps=16,injected,max=1600``, ``class=short``, ``reject,max=4000`` (no limit on tries) or
        ``reject=8,max=4000``). Labels of budget-forcing settings never change."""
        parts = []
        if self.stated_tokens is not None:
            parts.append(f"tokens={self.stated_tokens}")
        if self.stated_steps is not None:
            parts.append(f"steps={self.stated_steps}")
            if self.step_source == "injected":
                parts.append("injected")
                if self.step_tokens != 100:
                    parts.append(f"step_tokens={self.step_tokens}")
            elif self.stop_at_zero:
                parts.append("stop0")
        if self.thinking_class is not None:
            parts.append(f"class={self.thinking_class}")
        if self.method == "rejection" or self.max_tries:
            parts.append(f"reject={self.max_tries}" if self.max_tries else "reject")
            if self.temperature is not None and self.temperature != 1.0:  # s1 sampled at temperature 1
                parts.append(f"t={self.temperature:g}")
        if self.num_ignore:
            parts.append(f"ignore={self.num_ignore}")
        if self.ignore_string != "Wait" and (
            self.num_ignore or (self.min_thinking_tokens and self.min_mode == "append")
        ):
            parts.append(f"string={self.ignore_string!r}")
        if self.min_thinking_tokens:
            parts.append(
                f"min={self.min_thinking_tokens}" + ("(suppress)" if self.min_mode == "suppress" else "")
            )
        parts.append(f"max={self.max_thinking_tokens if self.max_thinking_tokens is not None else 'none'}")
        return ",".join(parts)

    @property
    def asked_max(self) -> int | None:
        """The most thinking this setting asks for, which Control checks: the cap, else the budget
        stated in the prompt (token-conditional: the tokens; step-conditional: steps x step size)."""
        if self.max_thinking_tokens is not None:
            return self.max_thinking_tokens
        if self.stated_tokens is not None:
            return self.stated_tokens
        if self.stated_steps is not None:
            # the paper (Appendix E.1, Control of Table 3): "100 tokens are an upper limit per step"
            return self.stated_steps * self.step_tokens
        return None

    @property
    def prompt_variant(self) -> tuple[str, int | None]:
        """What the prompt says about thinking: ("bare", None), ("tokens", N), ("steps", N) or
        ("class", short/long). Settings with one variant share prompts (and a ladder)."""
        if self.stated_tokens is not None:
            return ("tokens", self.stated_tokens)
        if self.stated_steps is not None:
            return ("steps" if self.step_source == "model" else "steps_injected", self.stated_steps)
        if self.thinking_class is not None:
            return ("class", THINKING_CLASSES.index(self.thinking_class))
        return ("bare", None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BudgetSetting:
        return cls(**{k: d[k] for k in (f.name for f in fields(cls)) if k in d})


@dataclass
class EvalRecord:
    """One sample of one question under one budget setting (one line of a shard's JSONL file)."""

    run: str
    benchmark: str
    question_id: str
    sample_index: int
    seed: int
    budget: dict[str, Any]  # BudgetSetting.to_dict()
    setting: str  # BudgetSetting.label
    method: str  # BudgetSetting.method
    thinking: str
    answer: str
    thinking_tokens: int
    answer_tokens: int
    forced_continuations: int  # times the ignore string was appended
    thinking_end: str  # "natural" | "budget"
    extracted_answer: str | None
    gold_answer: str | None
    correct: bool | None  # None when grading failed (see grade_error)
    engine: str
    model: str
    wall_time_s: float
    shard: str = ""
    grade_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    extraction_method: str | None = None  # how the answer was found: boxed, answer_line, answer_is, ...

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalRecord:
        """Build from a parsed JSON line; raises KeyError/TypeError on a malformed record."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def key(self) -> tuple[str, str, str, int]:
        """Identity of a record: duplicates share it."""
        return (self.benchmark, self.setting, self.question_id, self.sample_index)


_THINKING_ENDS = ("natural", "budget")
_BIG = 2**53  # integers above this are not plausible counts (and would overflow int64 columns)


def _fast_ok(d: Any) -> bool:
    """True for a well-formed record (the common case, checked in one expression)."""
    try:
        return (
            type(d["benchmark"]) is str
            and type(d["setting"]) is str
            and type(d["method"]) is str
            and type(d["question_id"]) is str
            and d["benchmark"] != ""
            and d["setting"] != ""
            and d["method"] != ""
            and d["question_id"] != ""
            and type(d["sample_index"]) is int
            and 0 <= d["sample_index"] < _BIG
            and type(d["thinking_tokens"]) is int
            and 0 <= d["thinking_tokens"] < _BIG
            and type(d["forced_continuations"]) is int
            and 0 <= d["forced_continuations"] < _BIG
            and (d["correct"] is True or d["correct"] is False or d["correct"] is None)
            and d["thinking_end"] in _THINKING_ENDS
            and (d["extracted_answer"] is None or type(d["extracted_answer"]) is str)
            and (d["gold_answer"] is None or type(d["gold_answer"]) is str)
            and type(d["budget"]) is dict
        )
    except (KeyError, TypeError, IndexError):
        return False


def record_problem(d: Any) -> str | None:
    """Why a parsed JSON line is not a usable :class:`EvalRecord`, or None when it is.

    The one validity rule for records: the eval stage (resume) and the report both use it."""
    if isinstance(d, dict) and _fast_ok(d):
        return None
    if not isinstance(d, dict):
        return "not a JSON object"
    for name in ("benchmark", "setting", "method", "question_id"):
        v = d.get(name)
        if not isinstance(v, str) or not v:
            return f"field '{name}' missing or not a non-empty string"
    for name in ("sample_index", "thinking_tokens", "forced_continuations"):
        v = d.get(name)
        if type(v) is not int or not 0 <= v < _BIG:  # bool is not accepted
            return f"field '{name}' missing or not an integer in [0, 2^53)"
    if "correct" not in d or not any(d["correct"] is v for v in (True, False, None)):
        return "field 'correct' missing or not true/false/null"
    if not isinstance(d.get("thinking_end"), str) or d["thinking_end"] not in _THINKING_ENDS:
        return "field 'thinking_end' missing or not 'natural'/'budget'"
    for name in ("extracted_answer", "gold_answer"):
        if name not in d or not (d[name] is None or isinstance(d[name], str)):
            return f"field '{name}' missing or not a string/null"
    if not isinstance(d.get("budget"), dict):
        return "field 'budget' missing or not an object"
    return "unexpected record shape"


RECORDS_FILE = "records.jsonl"  # name of a shard's record file inside RunDir.shard_dir(shard)
# What an evaluation run produces, recorded in its manifest (``produces``): the report merges the runs
# that produce it, whichever stage made them.
EVALUATION_RECORDS = "evaluation records"
