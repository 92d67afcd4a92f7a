"""The paper's conditional-control training formats (Appendix E.1, Figure 10): token-conditional (the
trace's length bucket stated in the prompt) and step-conditional (steps counted down in the trace)."""

from __future__ import annotations

import pytest

from s1slurm.eval.methods import s1_step_tokens, steps_written
from s1slurm.train.data import power_of_two_at_least, to_messages
from s1slurm.train.spec import DataSpec, FieldMap

S1K = FieldMap(question="question", trace="thinking_trajectories", answer="attempt")


class WordTokenizer:
    """Counts words as tokens, enough to see the bucket."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": list(range(len(text.split())))}


def test_lengths_are_bucketed_into_powers_of_two_rounded_up():
    assert [power_of_two_at_least(n) for n in (1, 2, 3, 1024, 1025, 2048, 2049)] == [
        1,
        2,
        4,
        1024,
        2048,
        2048,
        4096,
    ]


def test_token_conditional_states_the_traces_bucket_in_the_prompt():
    record = {"question": "Q?", "thinking_trajectories": " ".join(["w"] * 1500), "attempt": "4"}
    user, assistant = to_messages(record, S1K, fmt="token_conditional", tokenizer=WordTokenizer())
    assert user["content"] == "Q?\n\nThink for up to 2048 tokens."  # "between 1024 and 2048 tokens"
    assert assistant["content"].startswith("<|im_start|>think\n")
    assert assistant["content"].endswith("Answer: 4")


def test_step_conditional_counts_steps_down_to_one_and_states_their_bucket():
    trace = "First part.\n\nSecond part.\n\nThird part."
    record = {"question": "Q?", "thinking_trajectories": trace, "attempt": "4"}
    user, assistant = to_messages(record, S1K, fmt="step_conditional")
    assert user["content"] == "Q?\n\nThink for up to 4 steps."
    assert assistant["content"] == (
        "<|im_start|>3 steps left\nFirst part.\n<|im_start|>2 steps left\n"
        "Second part.\n<|im_start|>1 steps left\nThird part.\n"
        "<|im_start|>answer\nAnswer: 4"
    )


def test_the_step_format_is_the_one_evaluation_reads():
    record = {"question": "Q?", "thinking_trajectories": "a b\n\nc", "attempt": "4"}
    text = to_messages(record, S1K, fmt="step_conditional")[1]["content"]
    # evaluation's prompt ends with the opening <|im_start|>
    thinking = text[len("<|im_start|>") : text.index("<|im_start|>answer")]
    assert steps_written(thinking) == 2
    assert s1_step_tokens(WordTokenizerEncode(), thinking) == 3  # "a b" and "c": no delimiter counted


class WordTokenizerEncode:
    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(range(len(text.split())))


def test_the_format_is_a_field_of_the_data_spec():
    assert DataSpec(source="x.jsonl").format == "s1"
    assert DataSpec(source="x.jsonl", format="step_conditional").format == "step_conditional"
    with pytest.raises(ValueError):
        DataSpec(source="x.jsonl", format="steps")
