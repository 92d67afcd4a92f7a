"""The demo's model: a tiny Llama trained from scratch, with a small tokenizer of its own.

SmolLM2-135M's 49K-token vocabulary would make the output layer alone dominate CPU time, so the
demo builds a byte-level BPE tokenizer (``tokenizers``) on its own generated text and a Llama of a
few hundred thousand parameters. The result is a normal Hugging Face folder (``config.json``,
``model.safetensors``, ``tokenizer.json``, ``chat_template.jinja``, ``generation_config.json``) that
the train and eval stages load like any other model.

Attention heads are 64 wide: vLLM's CPU backend does not support head size 16 (64 works).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

# ChatML, the format of Qwen2.5 (and so of s1): the assistant turn opens with "<|im_start|>assistant\n"
# and s1's thinking / answer delimiters "<|im_start|>think" and "<|im_start|>answer" follow inside it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyLlama:
    """Shape of the demo model (defaults: 0.37M parameters with a 320-token vocabulary)."""

    hidden_size: int = 128
    layers: int = 2
    heads: int = 2  # head size = hidden_size / heads = 64
    intermediate_size: int = 256
    max_positions: int = 512
    vocab_size: int = 320  # byte alphabet (256) + merges + special tokens

    def __post_init__(self) -> None:
        if self.hidden_size % self.heads or self.hidden_size // self.heads != 64:
            raise ValueError("the demo model needs attention heads of size 64 (vLLM CPU)")


def build_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, digits always single tokens, ChatML specials.

    Returns a ``transformers.PreTrainedTokenizerFast`` with the chat template set.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Digits split one by one: arithmetic stays a per-digit table, never a merged "=37" token.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=None,
        additional_special_tokens=[IM_START],
        clean_up_tokenization_spaces=False,
        model_max_length=100_000,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model_folder(
    folder: Path, texts: Iterable[str], shape: TinyLlama = TinyLlama(), seed: int = 0
) -> Path:
    """Write a freshly initialised tiny Llama and its tokenizer to ``folder`` (replaced if present)."""
    import shutil

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts, shape.vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        head_dim=shape.hidden_size // shape.heads,
        max_position_embeddings=shape.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    info = {
        **asdict(shape),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary": len(tokenizer),
    }
    (tmp / "demo_model.json").write_text(json.dumps(info, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder
