"""Training data: the s1 chat format, the loss mask token by token, truncation, field mapping."""

from __future__ import annotations

import pytest

from s1slurm.core.errors import ConfigError
from s1slurm.train.data import (
    IGNORE_INDEX,
    assistant_text,
    check_fields,
    check_template,
    load_records,
    peek_columns,
    to_messages,
    tokenize_chat,
    tokenize_records,
)
from s1slurm.train.spec import DataSpec, FieldMap

S1K = FieldMap(question="question", trace="thinking_trajectories", answer="attempt")
SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def tokenizer(small_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(small_model)


def test_assistant_turn_is_think_trace_answer_with_answer_prefix_added_once():
    assert (
        assistant_text(["step 1", "step 2"], "42")
        == "<|im_start|>think\nstep 1\nstep 2\n<|im_start|>answer\nAnswer: 42"
    )
    assert (
        assistant_text("  trace  ", "So the Answer: 7 ")
        == "<|im_start|>think\ntrace\n<|im_start|>answer\nSo the Answer: 7"
    )


def test_record_becomes_user_question_and_assistant_turn_with_optional_system():
    record = {"question": " What is 2+2? ", "thinking_trajectories": ["2+2=4"], "attempt": "4"}
    assert to_messages(record, S1K) == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<|im_start|>think\n2+2=4\n<|im_start|>answer\nAnswer: 4"},
    ]
    assert to_messages(record, S1K, system_prompt="Be brief.")[0] == {
        "role": "system",
        "content": "Be brief.",
    }


@pytest.mark.parametrize("system_prompt", [None, "Think step by step."])
def test_labels_are_masked_exactly_on_system_and_user_turns(tokenizer, system_prompt):
    record = {"question": "Compute 17*3.", "thinking_trajectories": ["17*3 = 51."], "attempt": "51"}
    tok = tokenize_chat(tokenizer, to_messages(record, S1K, system_prompt), block_size=10_000)
    system = system_prompt if system_prompt is not None else SMOL_SYSTEM
    # What the ChatML template must put before the assistant's text (written out, not rendered):
    prompt_text = (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nCompute 17*3.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    completion_text = "<|im_start|>think\n17*3 = 51.\n<|im_start|>answer\nAnswer: 51<|im_end|>\n"
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    assert tok.input_ids == prompt_ids + completion_ids
    assert len(tok.labels) == len(tok.input_ids)
    for i, (token, label) in enumerate(zip(tok.input_ids, tok.labels)):
        if i < len(prompt_ids):
            assert label == IGNORE_INDEX, (
                f"token {i} {tokenizer.decode([token])!r} of the prompt is trained on"
            )
        else:
            assert label == token, f"token {i} {tokenizer.decode([token])!r} of the answer is masked"
    trained = [t for t, lab in zip(tok.input_ids, tok.labels) if lab != IGNORE_INDEX]
    assert tokenizer.decode(trained) == completion_text
    assert tok.completion_tokens == len(completion_ids) and not tok.truncated


def test_truncation_to_block_size_is_counted_and_prompt_only_examples_are_dropped(tokenizer):
    short = {"question": "1+1?", "thinking_trajectories": ["two"], "attempt": "2"}
    long = {"question": "Say a lot.", "thinking_trajectories": ["word " * 400], "attempt": "done"}
    huge_question = {"question": "why " * 300, "thinking_trajectories": ["x"], "attempt": "y"}
    rows, stats = tokenize_records([short, long, huge_question], tokenizer, S1K, block_size=128)
    assert stats.examples == 3 and stats.truncated_examples == 2 and stats.truncated_indices == [1, 2]
    assert stats.dropped_examples == 1 and stats.used_examples == 2 and len(rows) == 2
    assert all(len(r["input_ids"]) <= 128 and len(r["labels"]) == len(r["input_ids"]) for r in rows)
    assert len(rows[1]["input_ids"]) == 128 and stats.max_length > 400
    assert stats.total_tokens == sum(len(r["input_ids"]) for r in rows)


def test_local_jsonl_with_presets_and_explicit_mapping(tmp_path, s1_jsonl):
    spec = DataSpec(source=str(s1_jsonl), fields="s1k", limit=3)
    records = load_records(spec)
    assert len(records) == 3 and isinstance(records[0]["thinking_trajectories"], list)
    columns, _first = peek_columns(spec)
    check_fields(columns, spec.field_map(), source=spec.source)  # s1K columns: accepted
    with pytest.raises(ConfigError) as e:
        check_fields(columns, DataSpec(source="x", fields="s1k-1.1").field_map(), source=str(s1_jsonl))
    assert "deepseek_thinking_trajectory" in str(e.value) and "thinking_trajectories" in str(e.value)
    # parquet (s1K-1.1 column names) is read the same way
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "s1k11.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"question": "q", "deepseek_thinking_trajectory": "t", "deepseek_attempt": "a"}]
        ),
        path,
    )
    spec11 = DataSpec(source=str(path), fields="s1k-1.1")
    columns, _first = peek_columns(spec11)
    check_fields(columns, spec11.field_map(), source=str(path))
    [record] = load_records(spec11)
    assert to_messages(record, spec11.field_map())[1]["content"].endswith("Answer: a")


def test_template_without_chat_template_or_dropping_text_is_refused(tokenizer):
    import copy

    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        check_template(bare, model="m")
    dropping = copy.deepcopy(tokenizer)
    dropping.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{% if m.role != 'assistant' %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    with pytest.raises(ConfigError):
        check_template(dropping, model="m")
    check_template(tokenizer, model="m")
