"""Training data: s1K-style records -> chats -> token ids with the loss mask.

Each record becomes one conversation, rendered by the model's own chat template::

    user      = question
    assistant = "<|im_start|>think\\n" + trace + "\\n<|im_start|>answer\\n" + answer

where ``answer`` is prefixed ``Answer: `` when it does not already contain it (as s1 did). Labels
are ``-100`` on everything the template puts before the assistant's text (system message, user turn
and the assistant header), so the loss is on the assistant turn only ("We only train our model on
the reasoning trace and the answer", the paper's Figure 10).

The paper's conditional-control models (Appendix E.1, Figure 10) are trained on s1K in two more
formats (``data.format``):

* ``token_conditional``: the trace's length in tokens (this tokenizer's) is bucketed into powers of
  two, rounded up, and the user turn ends "Think for up to N tokens." (a trace of 1025-2048
  tokens: 2048); the assistant turn is s1's format;
* ``step_conditional``: the trace is split into steps on double newlines; their number is bucketed
  into powers of two and the user turn ends "Think for up to N steps."; the assistant turn opens
  with ``<|im_start|>`` and each step is preceded by ``<|im_start|>K steps left`` counting down to
  1 at the last step ("if counting down, the final step is always 1"), then
  ``<|im_start|>answer``. The prompts are those of the evaluation (s1's PROMPTTOKEN/PROMPTSTEP).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s1slurm.core.dataload import load_table, looks_local
from s1slurm.core.errors import ConfigError
from s1slurm.core.jsonl import first_bad_line
from s1slurm.train.spec import DataSpec, FieldMap

IGNORE_INDEX = -100
THINK = "<|im_start|>think\n"
ANSWER = "\n<|im_start|>answer\n"
STEP_OPEN = "<|im_start|>"
TOKEN_PROMPT = "{question}\n\nThink for up to {n} tokens."  # s1 aime/utils.py, PROMPTTOKEN
STEP_PROMPT = "{question}\n\nThink for up to {n} steps."  # s1 aime/utils.py, PROMPTSTEP


def load_records(spec: DataSpec) -> list[dict[str, Any]]:
    """All records (the first ``limit`` ones when set) from a local file or folder, or a hub dataset
    (a hub dataset's snapshot is downloaded at submission: s1slurm.models.hub.download_dataset)."""
    return load_table(spec.source, field="data.source", split=spec.split, limit=spec.limit).records


def peek_columns(spec: DataSpec) -> tuple[list[str], dict[str, Any] | None]:
    """Column names and the first record, read cheaply (used by ``check`` before submission)."""
    if looks_local(spec.source):
        path = Path(spec.source)
        if not path.is_file():
            raise ConfigError(
                "file not found",
                file=str(path),
                field="data.source",
                expected="a .jsonl, .json or .parquet file, or a hub dataset id",
            )
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(path)
                batch = next(pf.iter_batches(batch_size=1), None)
                rows = batch.to_pylist() if batch is not None else []
                return list(pf.schema_arrow.names), (rows[0] if rows else None)
            if suffix == ".jsonl":
                # every line, not only the first: a bad line 900 would otherwise fail the job once queued
                bad = first_bad_line(path)
                if bad:
                    raise ConfigError(
                        f"cannot read: {bad}",
                        file=str(path),
                        field="data.source",
                        expected="one JSON object per line",
                    )
                with open(path, encoding="utf-8") as f:
                    line = next((ln for ln in f if ln.strip()), None)
                first = json.loads(line) if line else None
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                first = data[0] if isinstance(data, list) and data else None
        except (OSError, ValueError, ImportError) as e:
            raise ConfigError(
                f"cannot read: {e}",
                file=str(path),
                field="data.source",
                expected="a .jsonl file of JSON objects, a .json list of them, or a .parquet file",
            ) from None
        if first is not None and not isinstance(first, dict):
            raise ConfigError("records are not JSON objects", file=str(path), field="data.source")
        return (sorted(first) if first else []), first
    try:
        import datasets

        stream = datasets.load_dataset(spec.source, split=spec.split, streaming=True)
        first = next(iter(stream), None)
    except Exception as e:  # network, unknown id, gated dataset: all end the check the same way
        raise ConfigError(
            f"cannot open hub dataset {spec.source!r} (split {spec.split!r}): {e}", field="data.source"
        ) from None
    return (sorted(first) if first else []), first


def check_fields(columns: Sequence[str], fields: FieldMap, *, source: str, file: str | None = None) -> None:
    """ConfigError naming every mapped field the dataset lacks, and the columns it has."""
    missing = [f"{role}={name!r}" for role, name in fields.model_dump().items() if name not in columns]
    if missing:
        raise ConfigError(
            f"dataset {source} has no column for {', '.join(missing)}; its columns are: "
            f"{', '.join(columns) or '(none)'}",
            file=file,
            field="data.fields",
            expected="a preset (s1k, s1k-1.1, s1k-1.1-gemini, curate) or a mapping of question, trace, "
            "answer to existing columns",
        )


def _text(value: Any) -> str:
    """A trace or answer as text: lists (s1K's thinking_trajectories) are joined by newlines."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value if v is not None)
    return str(value)


def assistant_text(trace: Any, answer: Any) -> str:
    """The assistant turn of the s1 format."""
    answer_text = _text(answer).strip()
    if "Answer:" not in answer_text:
        answer_text = "Answer: " + answer_text
    return THINK + _text(trace).strip() + ANSWER + answer_text


def power_of_two_at_least(n: int) -> int:
    """The bucket of a length: the smallest power of two >= n (1 for n <= 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


def trace_steps(trace: Any) -> list[str]:
    """The steps of a trace: its text split on double newlines, empty parts dropped."""
    return [p.strip() for p in _text(trace).strip().split("\n\n") if p.strip()]


def step_assistant_text(trace: Any, answer: Any) -> str:
    """The assistant turn of the step-conditional format: steps counted down to 1, then the answer."""
    steps = trace_steps(trace)
    body = "".join(f"{STEP_OPEN}{len(steps) - i} steps left\n{step}\n" for i, step in enumerate(steps))
    answer_text = _text(answer).strip()
    if "Answer:" not in answer_text:
        answer_text = "Answer: " + answer_text
    return body + STEP_OPEN + "answer\n" + answer_text


def to_messages(
    record: dict[str, Any],
    fields: FieldMap,
    system_prompt: str | None = None,
    fmt: str = "s1",
    tokenizer: Any = None,
) -> list[dict[str, str]]:
    """One record as a chat: optional system, user = question (with the stated budget for the
    conditional formats), assistant = thinking + answer in the format ``fmt``. The
    token-conditional format counts the trace's tokens with ``tokenizer``."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt is not None else []
    question = _text(record[fields.question]).strip()
    trace, answer = record[fields.trace], record[fields.answer]
    if fmt == "token_conditional":
        if tokenizer is None:
            raise ValueError("the token-conditional format needs the tokenizer to count the trace")
        n = len(tokenizer(_text(trace).strip(), add_special_tokens=False)["input_ids"])
        question = TOKEN_PROMPT.replace("{question}", question).replace("{n}", str(power_of_two_at_least(n)))
        content = assistant_text(trace, answer)
    elif fmt == "step_conditional":
        n = len(trace_steps(trace))
        question = STEP_PROMPT.replace("{question}", question).replace("{n}", str(power_of_two_at_least(n)))
        content = step_assistant_text(trace, answer)
    elif fmt == "s1":
        content = assistant_text(trace, answer)
    else:
        raise ValueError(f"unknown data format {fmt!r}")
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": content})
    return messages


@dataclass
class Tokenized:
    """Token ids and labels of one example; ``length`` is before truncation."""

    input_ids: list[int]
    labels: list[int]
    prompt_length: int
    length: int

    @property
    def truncated(self) -> bool:
        return self.length > len(self.input_ids)

    @property
    def completion_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


def tokenize_chat(tokenizer: Any, messages: list[dict[str, str]], block_size: int) -> Tokenized:
    """Render ``messages`` with the chat template and mask everything before the assistant's text.

    The prompt (every turn before the assistant's, plus the template's generation prompt) must be a
    token-level prefix of the whole conversation; otherwise the mask would be wrong and this raises.
    """
    prompt_text = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    if full_ids[:n] != prompt_ids or len(full_ids) <= n:
        raise ValueError(
            "the chat template's prompt is not a token prefix of the full conversation; "
            "cannot mask the user turn"
        )
    labels = [IGNORE_INDEX] * n + full_ids[n:]
    return Tokenized(
        input_ids=full_ids[:block_size], labels=labels[:block_size], prompt_length=n, length=len(full_ids)
    )


def check_template(tokenizer: Any, *, model: str, file: str | None = None) -> None:
    """ConfigError when the tokenizer has no chat template or the template drops the assistant text."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"model {model} has no chat template (tokenizer_config.json / chat_template.jinja)",
            file=file,
            field="model",
            expected="an instruct model folder with a chat template",
        )
    probe = to_messages({"q": "1+1?", "t": ["2"], "a": "2"}, FieldMap(question="q", trace="t", answer="a"))
    try:
        text = tokenizer.apply_chat_template(probe, tokenize=False)
        tokenize_chat(tokenizer, probe, block_size=10**9)
    except Exception as e:
        raise ConfigError(
            f"model {model}: cannot use its chat template for training: {e}", file=file, field="model"
        ) from None
    if probe[-1]["content"] not in text:
        raise ConfigError(
            f"model {model}: its chat template does not keep the assistant's text verbatim",
            file=file,
            field="model",
        )


@dataclass
class DatasetStats:
    """What tokenization did to the dataset; goes into the run summary."""

    examples: int = 0
    used_examples: int = 0
    truncated_examples: int = 0
    dropped_examples: int = 0  # nothing of the assistant turn left after truncation
    total_tokens: int = 0
    completion_tokens: int = 0
    max_length: int = 0
    block_size: int = 0
    truncated_indices: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["truncated_indices"] = d["truncated_indices"][:100]
        return d


def tokenize_records(
    records: Iterable[dict[str, Any]],
    tokenizer: Any,
    fields: FieldMap,
    block_size: int,
    system_prompt: str | None = None,
    fmt: str = "s1",
) -> tuple[list[dict[str, list[int]]], DatasetStats]:
    """Tokenized examples (``input_ids``, ``labels``) in the format ``fmt`` and the statistics of
    the whole set."""
    rows: list[dict[str, list[int]]] = []
    stats = DatasetStats(block_size=block_size)
    for i, record in enumerate(records):
        stats.examples += 1
        tok = tokenize_chat(tokenizer, to_messages(record, fields, system_prompt, fmt, tokenizer), block_size)
        stats.max_length = max(stats.max_length, tok.length)
        if tok.truncated:
            stats.truncated_examples += 1
            stats.truncated_indices.append(i)
        if tok.completion_tokens == 0:
            stats.dropped_examples += 1
            continue
        stats.used_examples += 1
        stats.total_tokens += len(tok.input_ids)
        stats.completion_tokens += tok.completion_tokens
        rows.append({"input_ids": tok.input_ids, "labels": tok.labels})
    return rows, stats


def pad_batch(features: list[dict[str, list[int]]], pad_id: int, multiple: int = 1) -> dict[str, Any]:
    """Right-pad a micro-batch: ``input_ids`` with ``pad_id``, ``labels`` with -100 (torch tensors).

    The width is rounded up to a ``multiple`` (the sequence-parallel size: Ulysses splits the
    sequence into equal parts).
    """
    import torch

    width = max(len(f["input_ids"]) for f in features)
    width = -(-width // multiple) * multiple
    ids, labels, mask = [], [], []
    for f in features:
        pad = width - len(f["input_ids"])
        ids.append(list(f["input_ids"]) + [pad_id] * pad)
        labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        mask.append([1] * len(f["input_ids"]) + [0] * pad)
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }
