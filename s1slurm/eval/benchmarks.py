"""Benchmarks: AIME24, MATH500, GPQA Diamond or a local JSON Lines file, loaded as :class:`Question`.

Every benchmark is read by :func:`s1slurm.core.dataload.load_table`: a local data file, a dataset
folder or a hub dataset. Gated datasets (GPQA) use the user's own Hugging Face token through the normal
``huggingface_hub`` mechanisms (``HF_TOKEN`` or ``hf auth login``); nothing here handles tokens.

GPQA must never appear in plain text in reports or logs: its questions carry ``meta["redact"] =
True`` and this module never logs question texts or record contents (errors name only the file,
the record number and the field).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from s1slurm.core.dataload import Table, is_hub_id, load_table
from s1slurm.core.errors import ConfigError, S1SlurmError
from s1slurm.eval.prompts import PROMPT_TEMPLATES, template_text

Kind = Literal["math", "aime", "mcq"]
BenchmarkName = Literal["aime24", "aime24_h4", "math500", "gpqa_diamond", "jsonl"]

# Instruction prompts are named templates (s1slurm.eval.prompts); the default is the bare question.
MATH_TEMPLATE = PROMPT_TEMPLATES["boxed"]
MCQ_TEMPLATE = PROMPT_TEMPLATES["mcq_boxed"]

_LABEL = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")


@dataclass
class _Preset:
    hub_id: str | None
    hub_config: str | None
    split: str
    kind: Kind
    fields: dict[str, str]


# Field mapping keys: id, question, answer (gold; for MCQ the correct choice's text, or its letter
# when ``choices`` is given), choices (a list column with every choice), incorrect_1..N (columns of
# wrong choices, for GPQA-style records), kind (a per-record kind column).
_PRESETS: dict[str, _Preset] = {
    # s1 reports AIME24 on simplescaling/aime24_nofigures (eval/commands.sh; its task yaml reads the
    # "train" split, and its utils.py the "problem" (or "question") and "answer" columns; the card
    # names no id column, so ids are the records' positions unless the data has "id")
    "aime24": _Preset(
        "simplescaling/aime24_nofigures", None, "train", "aime", {"question": "problem", "answer": "answer"}
    ),
    # the earlier default, kept by name: HuggingFaceH4/aime_2024 (id, problem, solution, answer, url, year)
    "aime24_h4": _Preset(
        "HuggingFaceH4/aime_2024",
        None,
        "train",
        "aime",
        {"id": "id", "question": "problem", "answer": "answer"},
    ),
    "math500": _Preset(
        "HuggingFaceH4/MATH-500",
        None,
        "test",
        "math",
        {"id": "unique_id", "question": "problem", "answer": "answer"},
    ),
    "gpqa_diamond": _Preset(
        "Idavidrein/gpqa",
        "gpqa_diamond",
        "train",
        "mcq",
        {
            "id": "Record ID",
            "question": "Question",
            "answer": "Correct Answer",
            "incorrect_1": "Incorrect Answer 1",
            "incorrect_2": "Incorrect Answer 2",
            "incorrect_3": "Incorrect Answer 3",
        },
    ),
    "jsonl": _Preset(None, None, "train", "math", {"question": "question", "answer": "answer"}),
}
PRESET_NAMES = tuple(name for name, p in _PRESETS.items() if p.hub_id is not None)  # no "jsonl"
_FIELD_KEYS = re.compile(r"^(id|question|answer|choices|kind|incorrect_\d+)$")
_META_COLUMNS = ("subject", "level", "year", "url")  # small, harmless columns kept in meta


@dataclass
class Question:
    """One benchmark question, ready to prompt and grade.

    ``prompt`` is the full user message (for MCQ it lists the shuffled choices as ``A) ...`` and
    asks for the letter); ``gold`` is the gold answer (for MCQ the gold letter after shuffling).
    ``meta["redact"]`` is True for records that must never be shown in plain text (GPQA).
    """

    id: str
    prompt: str
    gold: str
    kind: Kind
    choices: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class BenchmarkConfig(BaseModel):
    """One benchmark of an eval spec (see the module docstring for the sources)."""

    model_config = ConfigDict(extra="forbid")

    name: BenchmarkName
    path: Path | None = Field(
        None, description="local data file; for aime24/math500/gpqa it overrides the hub"
    )
    hub_id: str | None = Field(
        None, description="hub dataset id or local dataset folder (default per benchmark)"
    )
    hub_config: str | None = Field(None, description="dataset config name (default: gpqa_diamond for GPQA)")
    split: str | None = Field(None, description="split (default: train, MATH500: test)")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="our key -> column: id, question, answer, choices, "
        "incorrect_1..N, kind (merged over the defaults)",
    )
    kind: Kind | None = Field(None, description="grading kind for jsonl: math, aime or mcq (default math)")
    limit: int | None = Field(None, ge=1, description="keep only the first N questions")
    label: str | None = Field(None, description="name in records and shard groups (default: name)")
    prompt_template: str | None = Field(
        None,
        description="user message with {question} (MCQ: also {letters}), or a template name: "
        + ", ".join(PROMPT_TEMPLATES)
        + " (default: bare, the question alone, as s1)",
    )

    @field_validator("label")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        if v is not None and (not _LABEL.match(v) or set(v) == {"."}):
            raise ValueError("must be 1-100 characters of A-Z a-z 0-9 _ . + - (and not only dots)")
        return v

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None and v not in PROMPT_TEMPLATES and "{question}" not in v:
            raise ValueError(
                "must contain the placeholder {question}, or be a template name ("
                + ", ".join(PROMPT_TEMPLATES)
                + ")"
            )
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in v if not _FIELD_KEYS.match(k))
        if bad:
            raise ValueError(
                f"unknown keys {bad} (allowed: id, question, answer, choices, kind, incorrect_1..N)"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkConfig:
        if self.name == "jsonl":
            if self.path is None:
                raise ValueError("a jsonl benchmark needs 'path' (a local JSON Lines file)")
            if self.hub_id is not None:
                raise ValueError("a jsonl benchmark reads 'path', not 'hub_id'")
        elif self.kind is not None and self.kind != _PRESETS[self.name].kind:
            raise ValueError(f"{self.name} is graded as '{_PRESETS[self.name].kind}'; 'kind' is for jsonl")
        return self

    @property
    def effective_label(self) -> str:
        return self.label or self.name

    @property
    def effective_kind(self) -> Kind:
        return self.kind or _PRESETS[self.name].kind

    @property
    def effective_fields(self) -> dict[str, str]:
        return {**_PRESETS[self.name].fields, **self.fields}

    @property
    def redact(self) -> bool:
        """True for gated data that must never be shown in plain text (GPQA)."""
        return self.name == "gpqa_diamond"


def choice_seed(seed: int, question_id: str) -> int:
    """A seed per (run seed, question id), the same in every process (no ``hash()``)."""
    digest = hashlib.sha256(f"s1slurm-choices\0{seed}\0{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def letters_for(n: int) -> str:
    """``A, B, C or D`` for n = 4."""
    letters = [chr(ord("A") + i) for i in range(n)]
    return letters[0] if n == 1 else ", ".join(letters[:-1]) + " or " + letters[-1]


def load_benchmark(cfg: BenchmarkConfig, seed: int = 0, *, source: str = "<spec>") -> list[Question]:
    """Load and validate every question of ``cfg``; problems are :class:`ConfigError` naming the
    spec (``source``) or data file, the record (line) number and the field."""
    rows, where = _load_rows(cfg, source)
    fields = cfg.effective_fields
    id_col = _id_column(cfg, rows)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows.records):
        if cfg.limit is not None and len(questions) >= cfg.limit:
            break
        q = _question(cfg, fields, id_col, index, row, seed, where)
        if q.id in seen:
            raise where.error(
                index,
                id_col or "id",
                f"duplicate question id (also record {seen[q.id] + 1})",
                "unique question ids",
            )
        seen[q.id] = index
        questions.append(q)
    return questions


class _Where:
    """Where rows came from, to name a record in an error (line numbers for local JSON Lines)."""

    def __init__(self, name: str, path: Path | None) -> None:
        self.name, self.path = name, path

    def record(self, index: int) -> str:
        if self.path is not None and self.path.suffix == ".jsonl":
            return f"line {_line_of(self.path, index)}"
        return f"record {index + 1}"

    def error(self, index: int, column: str, what: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.record(index)}: {what}", file=self.name, field=column, expected=expected)


def _line_of(path: Path, index: int) -> int:
    """1-based line number of the index-th non-blank line (blank lines hold no record)."""
    seen = -1
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                seen += 1
                if seen == index:
                    return number
    return index + 1


def reads_hub(cfg: BenchmarkConfig) -> bool:
    """Whether loading this benchmark asks the Hugging Face hub (no local file or dataset folder)."""
    if cfg.path is not None:
        return False
    hub_id = cfg.hub_id or _PRESETS[cfg.name].hub_id
    return hub_id is not None and is_hub_id(hub_id)


def _load_rows(cfg: BenchmarkConfig, source: str) -> tuple[Table, _Where]:
    preset = _PRESETS[cfg.name]
    label = cfg.effective_label
    hint = (
        "GPQA is gated: accept its terms on huggingface.co/datasets/Idavidrein/gpqa and log in "
        "(hf auth login, or set HF_TOKEN)"
        if cfg.name == "gpqa_diamond"
        else ""
    )
    try:
        if cfg.path is not None:
            table = load_table(str(cfg.path), field="path", file=source, redact=cfg.redact)
        else:
            hub_id = cfg.hub_id or preset.hub_id
            assert hub_id is not None  # only the jsonl preset has no hub id, and it requires path
            table = load_table(
                hub_id,
                field="hub_id",
                file=source,
                config=cfg.hub_config or preset.hub_config,
                split=cfg.split or preset.split,
                redact=cfg.redact,
                hint=hint,
                local_field="path",
            )
    except ConfigError as e:
        if e.file != source:  # the data file itself is at fault: name it, as the loader did
            raise
        raise ConfigError(
            f"benchmark '{label}': {e.detail}", file=source, field=e.field, expected=e.expected
        ) from None
    except S1SlurmError as e:  # the hub out of reach: say which benchmark
        raise S1SlurmError(f"benchmark '{label}': {e}") from None
    return table, _Where(table.where, table.path)


def _id_column(cfg: BenchmarkConfig, rows: Any) -> str | None:
    """The id column: the mapped one when the data has it (or the user set it), else ``id`` or
    ``unique_id`` when present, else None (question ids are then record indices)."""
    columns = set(rows.columns)
    if "id" in cfg.fields:
        return cfg.fields["id"]  # set explicitly: must exist (checked per record)
    for candidate in (cfg.effective_fields.get("id"), "id", "unique_id"):
        if candidate and candidate in columns:
            return candidate
    return None


def _question(
    cfg: BenchmarkConfig,
    fields: dict[str, str],
    id_col: str | None,
    index: int,
    row: dict[str, Any],
    seed: int,
    where: _Where,
) -> Question:
    def need(key: str, expected: str, column: str | None = None) -> Any:
        column = column or fields[key]
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise where.error(index, column, f"missing or empty (mapped as '{key}')", expected)
        return value

    kind: str = cfg.effective_kind
    if "kind" in fields:
        kind = str(need("kind", "math, aime or mcq")).strip()
        if kind not in ("math", "aime", "mcq"):
            raise where.error(index, fields["kind"], f"unknown kind {kind!r}", "math, aime or mcq")
    qid = str(need("id", "a question id", id_col)).strip() if id_col is not None else str(index)
    text = need("question", "the question text")
    if not isinstance(text, str):
        raise where.error(index, fields["question"], "not a string", "the question text")
    answer = need("answer", "the gold answer")
    meta: dict[str, Any] = {"index": index}
    if cfg.redact:
        meta["redact"] = True
    else:
        meta.update({k: row[k] for k in _META_COLUMNS if row.get(k) is not None})
    if kind != "mcq":
        gold = str(answer).strip()
        if "####" in gold:  # GSM8K-style: the solution, then "#### <answer>"
            gold = gold.rsplit("####", 1)[1].strip().replace(",", "")
        if kind == "aime" and not re.fullmatch(r"[+-]?\d+", gold):
            raise where.error(index, fields["answer"], "AIME answer is not an integer", "an integer")
        return Question(qid, _render(cfg, text, None), gold, kind, None, meta)  # type: ignore[arg-type]

    choices, correct = _mcq_choices(fields, row, index, where, need, str(answer).strip())
    order = list(range(len(choices)))
    random.Random(choice_seed(seed, qid)).shuffle(order)
    shuffled = [choices[i] for i in order]
    gold = chr(ord("A") + order.index(correct))
    return Question(qid, _render(cfg, text, shuffled), gold, "mcq", shuffled, meta)


def _mcq_choices(
    fields: dict[str, str], row: dict[str, Any], index: int, where: _Where, need: Any, answer: str
) -> tuple[list[str], int]:
    """(choices in source order, index of the correct one)."""
    wrong_keys = sorted((k for k in fields if k.startswith("incorrect_")), key=lambda k: int(k[10:]))
    if "choices" in fields:
        raw = need("choices", "a list of choices")
        if not isinstance(raw, list) or len(raw) < 2 or any(c is None for c in raw):
            raise where.error(
                index, fields["choices"], "not a list of at least 2 choices", "a list of choices"
            )
        choices = [str(c).strip() for c in raw]
        if answer in choices:
            return choices, choices.index(answer)
        letter = answer.strip("() .").upper()
        if len(letter) == 1 and 0 <= ord(letter) - ord("A") < len(choices):
            return choices, ord(letter) - ord("A")
        raise where.error(index, fields["answer"], "matches no choice", "a choice's text or its letter")
    if not wrong_keys:
        raise ConfigError(
            "an mcq benchmark needs fields.choices or fields.incorrect_1..N", file=where.name, field="fields"
        )
    choices = [answer] + [str(need(k, "an incorrect choice")).strip() for k in wrong_keys]
    if len(choices) > 26:
        raise where.error(index, fields["answer"], "more than 26 choices", "at most 26 choices")
    return choices, 0


def _render(cfg: BenchmarkConfig, text: str, choices: list[str] | None) -> str:
    """The user message: the template with {question} (and {letters}); no str.format, so braces
    such as ``\\boxed{}`` in a template are kept as written."""
    body = text.strip()
    template = template_text(cfg.prompt_template)
    if choices is not None:
        body += "\n\n" + "\n".join(f"{chr(ord('A') + i)}) {c}" for i, c in enumerate(choices))
        return template.replace("{letters}", letters_for(len(choices))).replace("{question}", body)
    return template.replace("{question}", body)
