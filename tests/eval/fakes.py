"""A tiny deterministic "model" and tokenizer, to check budget forcing without loading a model.

The fake model continues a context with a token chosen by hashing the whole context (and, when
sampling, the request seed and the step): a different context gives a different continuation,
like a real model, and a capped generation is a prefix of a longer one. It sometimes writes
end-of-thinking delimiters, as single tokens and split over several tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from s1slurm.eval.engines.base import Engine, EngineConfig, Request

VOCAB = [
    "<eos>",
    "<|im_start|>",
    "think",
    "answer",
    "\n",
    "\n\n",
    "Wait",
    " a",
    " b",
    " c",
    " d",
    ".",
    ".\n\n",
    "Final",
    " Answer",
    ":",
    " 4",
    "2",
    "user",
    "assistant",
    "x",
    " y",
    " z",
]
# every other printable character, as one token each (after the words above, so their ids are
# stable): prompts of the conditional-control methods and step markers can be encoded
VOCAB += [c for c in map(chr, range(32, 127)) if c not in VOCAB]
EOS = 0
# tokens the fake model writes, with weights (delimiters are rare enough for rounds of ~10-30 ids)
_WRITES = [
    (" a", 20),
    (" b", 20),
    (" c", 15),
    (" d", 10),
    (" y", 8),
    (" z", 8),
    (".", 6),
    ("\n", 12),
    (".\n\n", 2),
    ("<|im_start|>", 3),
    ("answer", 3),
    ("<eos>", 1),
    ("Wait", 1),
]
_TABLE = [VOCAB.index(tok) for tok, w in _WRITES for _ in range(w)]


class FakeTokenizer:
    eos_token_id = EOS
    pad_token_id = EOS
    chat_template = "fake"

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids, i = [], 0
        while i < len(text):  # longest match first
            best = max((t for t in VOCAB if t and text.startswith(t, i)), key=len, default=None)
            if best is None:
                raise ValueError(f"cannot encode {text[i:]!r}")
            ids.append(VOCAB.index(best))
            i += len(best)
        return ids

    def decode(
        self,
        ids: Sequence[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool = False,
    ) -> str:
        return "".join(VOCAB[i] for i in ids)

    def apply_chat_template(
        self, messages: list[dict], tokenize: bool = False, add_generation_prompt: bool = True
    ) -> str:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<eos>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def next_token(context: Sequence[int], salt: str = "") -> int:
    digest = hashlib.sha256((salt + ",".join(map(str, context))).encode()).digest()
    return _TABLE[int.from_bytes(digest[:4], "big") % len(_TABLE)]


class FakeEngine(Engine):
    """Deterministic engine over the fake model; ``overshoot`` extra ids after a stop, like an
    engine that notices a stop string one token late."""

    kind = "fake"

    def __init__(self, max_model_len: int = 4096, overshoot: int = 0) -> None:
        super().__init__(EngineConfig(kind="fake", model="fake"))
        self.tokenizer = FakeTokenizer()
        self.max_model_len = max_model_len
        self.eos_token_ids = (EOS,)
        self.overshoot = overshoot
        self.calls: list[list[Request]] = []

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        from s1slurm.eval.engines.base import StopScanner

        self.calls.append(requests)
        outputs = []
        for r in requests:
            scanner = StopScanner(self.tokenizer, r.stop)
            context, out, stop_at = list(r.prompt), [], None
            while len(out) < r.max_tokens:
                salt = f"{r.seed}:{len(out)}:" if r.temperature > 0 else ""
                tok = next_token(context, salt)
                redraw = 0
                while len(out) < r.min_tokens and (tok in r.stop.token_ids):  # like vLLM's min_tokens
                    redraw += 1
                    tok = next_token(context, f"{salt}min{redraw}:")
                context.append(tok)
                out.append(tok)
                if stop_at is None and scanner.match_at(out, len(out) - 1) is not None:
                    stop_at = len(out)
                if stop_at is not None and len(out) >= stop_at + self.overshoot:
                    break
            outputs.append(out)
        return outputs


def fake_forcing(engine: FakeEngine, **kwargs: Any):
    from s1slurm.eval.forcing import DelimiterText, Forcing

    delimiters = kwargs.pop("delimiters", DelimiterText(thinking_end=("<|im_start|>answer", "\n\n")))
    return Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=delimiters,
        max_answer_tokens=kwargs.pop("max_answer_tokens", 8),
        **kwargs,
    )
