"""The demo's model folder: a normal Hugging Face folder the train and eval stages accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from s1slurm.demo.model import TinyLlama, build_model_folder
from s1slurm.demo.tasks import generate
from s1slurm.train.data import assistant_text


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    texts = [p.question + "\n" + assistant_text(p.trace, p.answer) for p in generate(200, seed=0)]
    return build_model_folder(tmp_path_factory.mktemp("demo-model") / "model", texts, seed=0)


def test_heads_are_64_wide_because_vllm_cpu_refuses_16():
    with pytest.raises(ValueError, match="64"):
        TinyLlama(hidden_size=64, heads=4)


def test_the_folder_loads_with_auto_classes_and_keeps_the_s1_delimiters(folder: Path):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from s1slurm.eval.spec import EvalSpec, check_tokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "llama" and config.head_dim == 64
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert tok.eos_token == "<|im_end|>" and len(tok) <= 400
    for text in (
        "<|im_start|>think\n",
        "<|im_start|>answer",
        "Wait",
        "Final Answer:",
        "greek: from ω, 9 hops of 7",
    ):
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert len(tok.encode("<|im_start|>", add_special_tokens=False)) == 1
    spec = EvalSpec(model=str(folder), benchmarks=[{"name": "jsonl", "path": str(folder / "config.json")}])
    check_tokenizer(spec, tok, "eval.yaml")  # the eval stage's own checks pass


def test_the_training_stage_can_mask_the_prompt(folder: Path):
    from transformers import AutoTokenizer

    from s1slurm.train.data import check_template, to_messages, tokenize_chat
    from s1slurm.train.spec import FieldMap

    tok = AutoTokenizer.from_pretrained(folder)
    check_template(tok, model=str(folder))
    p = generate(1, seed=5)[0]
    t = tokenize_chat(
        tok,
        to_messages(
            {"q": p.question, "t": p.trace, "a": p.answer}, FieldMap(question="q", trace="t", answer="a")
        ),
        128,
    )
    completion = tok.decode([i for i, lab in zip(t.input_ids, t.labels) if lab != -100])
    assert completion.startswith("<|im_start|>think\n" + p.trace.splitlines()[0])
    assert completion.endswith(f"<|im_start|>answer\nAnswer: {p.answer}<|im_end|>\n") or completion.endswith(
        f"<|im_start|>answer\nAnswer: {p.answer}<|im_end|>"
    )
