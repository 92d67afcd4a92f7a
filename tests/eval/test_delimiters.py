"""Delimiter presets: s1's format by default, ``r1`` for models that think in <think>...</think>;
one definition used by evaluation, curation and training."""

from __future__ import annotations

from s1slurm.eval.spec import Delimiters
from s1slurm.models.delimiters import PRESETS


def test_the_default_is_s1s_format():
    d = Delimiters().text()
    assert (d.thinking_start, d.thinking_end, d.answer_start) == (
        "<|im_start|>think\n",
        ("<|im_start|>",),
        "<|im_start|>answer\n",
    )
    assert d == PRESETS["s1"]


def test_the_r1_preset_fills_every_field_a_spec_leaves_out():
    d = Delimiters.model_validate({"preset": "r1", "final_answer": "Answer:"}).text()
    assert (d.thinking_start, d.thinking_end, d.final_answer) == ("<think>\n", ("</think>",), "Answer:")
    assert "</think>" in d.answer_start


def test_a_whole_output_splits_into_thinking_and_answer_in_either_format():
    r1 = PRESETS["r1"]
    assert r1.split("<think>\nTwo and two.\n</think>\n\nThe answer is \\boxed{4}.") == (
        "Two and two.",
        "The answer is \\boxed{4}.",
    )
    assert r1.split("Two and two.\n</think>\nFour") == ("Two and two.", "Four")  # opening tag in the prompt
    s1 = PRESETS["s1"]
    assert s1.split("<|im_start|>think\nhmm\n<|im_start|>answer\nAnswer: 4") == ("hmm", "Answer: 4")
    assert s1.split("no end of thinking") == ("no end of thinking", "")
