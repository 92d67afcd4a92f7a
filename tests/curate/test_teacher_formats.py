"""Teacher traces in both formats become thinking + attempt: ``<think>...</think>`` teachers (R1, its
distills, QwQ, Qwen3; ``delimiters: {preset: r1}``) and s1's ``<|im_start|>think``/``answer``, generated
through the evaluation stage's forcing with a small real tokenizer that has the tokens, and read
from a column of whole outputs; the attempt is graded."""

from __future__ import annotations

import pytest

from s1slurm.curate import traces
from s1slurm.curate.spec import TracesConfig
from s1slurm.eval.engines.base import Engine, EngineConfig, Request

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def small_tokenizer():
    """A byte-level BPE tokenizer of a few hundred ids with ChatML and the thinking tokens (one id each)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(
        ["Let me add the numbers. So the answer is boxed four. think answer user assistant"] * 20, trainer
    )
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    hf.chat_template = CHATML
    return hf


class Teacher(Engine):
    """Writes a whole output in its format: thinking, the end of thinking, then the answer; asked to
    continue after the answer delimiter (the answer phase), it writes the answer alone."""

    kind = "scripted"

    def __init__(self, tokenizer, outputs: dict[str, tuple[str, str]], fmt: str) -> None:
        super().__init__(EngineConfig(kind="scripted", model="scripted"))
        self.tokenizer = tokenizer
        self.max_model_len = 4096
        self.eos_token_ids = (tokenizer.convert_tokens_to_ids("<|im_end|>"),)
        self.outputs, self.fmt = outputs, fmt
        self.prompts: list[str] = []

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        out = []
        for r in requests:
            prompt = self.tokenizer.decode(list(r.prompt))
            self.prompts.append(prompt)
            thinking, answer = next(v for k, v in self.outputs.items() if k in prompt)
            if prompt.endswith(("</think>\n\n", "<|im_start|>answer\n")):  # the answer phase
                text = answer
            elif self.fmt == "r1":
                text = f"{thinking}\n</think>\n\n{answer}"
            else:
                text = f"{thinking}<|im_start|>answer\n{answer}"
            out.append(
                self.tokenizer.encode(text, add_special_tokens=False)[: r.max_tokens]
                + [self.eos_token_ids[0]]
            )
        return out


ROWS = [
    {"id": "p/1", "question": "What is two plus two?", "answer": "4"},
    {"id": "p/2", "question": "What is three plus three?", "answer": "6"},
]
OUTPUTS = {
    "two plus two": ("Let me add: 2 + 2 = 4.", "So the answer is $\\boxed{4}$."),
    "three plus three": ("Three and three make seven?", "The answer is $\\boxed{7}$."),
}


@pytest.mark.parametrize("fmt", ["r1", "s1"])
def test_a_teachers_output_becomes_thinking_and_a_graded_attempt(fmt):
    tok = small_tokenizer()
    assert len(tok.encode("</think>", add_special_tokens=False)) == 1  # the tokens exist as single ids
    cfg = TracesConfig(
        model="teacher", delimiters={"preset": fmt}, max_thinking_tokens=300, max_answer_tokens=60
    )
    engine = Teacher(tok, OUTPUTS, fmt)
    recs = traces.trace_records(engine, cfg, ROWS)
    assert [(r["thinking"], r["attempt"]) for r in recs] == list(OUTPUTS.values())
    assert [r["teacher_correct"] for r in recs] == [True, False]
    assert [r["trace_flag"] for r in recs] == [None, None]
    opening = (
        "<|im_start|>assistant\n<think>\n" if fmt == "r1" else "<|im_start|>assistant\n<|im_start|>think\n"
    )
    assert all(p.endswith(opening) for p in engine.prompts[:2])  # the thinking phase's prompts
    assert not any("</think>" in r["thinking"] or "<|im_start|>" in r["thinking"] for r in recs)


def test_an_r1_output_read_with_s1s_delimiters_puts_its_answer_in_the_thinking():
    # why the preset matters: s1's thinking never ends at </think>, so </think> and the answer land in it
    tok = small_tokenizer()
    s1 = TracesConfig(model="teacher", max_thinking_tokens=300, max_answer_tokens=60)
    [rec] = traces.trace_records(Teacher(tok, OUTPUTS, "r1"), s1, ROWS[:1])
    assert "</think>" in rec["thinking"] and "\\boxed{4}" in rec["thinking"]


@pytest.mark.parametrize(
    "fmt, output",
    [
        ("r1", "<think>\nLet me add: 2 + 2 = 4.\n</think>\n\nSo the answer is $\\boxed{4}$."),
        (
            "r1",
            "Let me add: 2 + 2 = 4.\n</think>\n\nSo the answer is $\\boxed{4}$.",
        ),  # template opened <think>
        ("s1", "<|im_start|>think\nLet me add: 2 + 2 = 4.<|im_start|>answer\nSo the answer is $\\boxed{4}$."),
    ],
)
def test_whole_outputs_in_a_column_are_split_with_the_delimiters(fmt, output):
    cfg = TracesConfig(from_fields={"output": "output"}, delimiters={"preset": fmt})
    [rec] = traces.field_records(cfg, [{**ROWS[0], "output": output}])
    assert (rec["thinking"], rec["attempt"]) == OUTPUTS["two plus two"]
    assert rec["teacher_correct"] is True and rec["teacher"] == "fields:output"


def test_from_fields_takes_thinking_and_attempt_or_output_alone():
    with pytest.raises(ValueError, match="'output' alone"):
        TracesConfig(from_fields={"output": "o", "thinking": "t"})
    with pytest.raises(ValueError, match="'output' alone"):
        TracesConfig(from_fields={"thinking": "t"})
