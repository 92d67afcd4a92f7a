"""What the model steps share: loading a model through the evaluation stage's engines, and plain
chat generation (one user turn, the answer until the end of turn) on token ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s1slurm.curate.spec import ModelStepConfig
from s1slurm.eval.engines import Engine, Request, StopRule, StopScanner, derive_seed, get_engine
from s1slurm.models.resolve import resolve_model


def load(cfg: ModelStepConfig, model: str) -> Engine:
    """The engine for ``model`` with the step's settings (one model loaded per process at a time)."""
    return get_engine(cfg.engine_config(resolve_model(model)))


def chat_ids(engine: Engine, user: str, system: str | None = None) -> tuple[int, ...]:
    """The chat template over one user turn, the assistant turn opened."""
    messages = [{"role": "user", "content": user}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    text = engine.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tuple(engine.tokenizer.encode(text, add_special_tokens=False))


def chat(
    engine: Engine,
    prompts: Sequence[tuple[int, ...]],
    *,
    max_tokens: int,
    seeds: Sequence[int],
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> list[dict[str, Any]]:
    """Generate one answer per prompt until the end of turn: ``text``, ``tokens``, ``cut_off``
    (stopped by ``max_tokens``) or ``error`` (the prompt leaves no room in the context)."""
    stop = StopRule(token_ids=tuple(engine.eos_token_ids))
    scanner = StopScanner(engine.tokenizer, stop)
    results: list[dict[str, Any]] = [{} for _ in prompts]
    requests, where = [], []
    for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
        room = min(max_tokens, engine.max_model_len - len(prompt))
        if room < 1:
            results[i] = {
                "text": "",
                "tokens": 0,
                "cut_off": False,
                "error": f"prompt of {len(prompt)} tokens leaves no room (context {engine.max_model_len})",
            }
            continue
        requests.append(
            Request(
                prompt=tuple(prompt),
                max_tokens=room,
                stop=stop,
                seed=seed,
                temperature=temperature,
                top_p=top_p,
            )
        )
        where.append(i)
    for i, req, gen in zip(where, requests, engine.generate(requests)):
        match = scanner.first(gen.token_ids)
        ids = gen.token_ids[: match.cut] if match else list(gen.token_ids)
        text = engine.tokenizer.decode(ids, skip_special_tokens=True)
        results[i] = {
            "text": text,
            "tokens": len(ids),
            "cut_off": match is None and len(gen.token_ids) >= req.max_tokens,
            "error": None,
        }
    return results


def seed_for(cfg: ModelStepConfig, *parts: object) -> int:
    return derive_seed(cfg.seed, *parts)
