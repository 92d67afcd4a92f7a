"""Generation engines behind one interface (:class:`Engine`): vLLM and transformers."""

from __future__ import annotations

from s1slurm.eval.engines.base import (
    Engine,
    EngineConfig,
    Generation,
    Request,
    StopMatch,
    StopRule,
    StopScanner,
    derive_seed,
    restore_env,
    set_env,
)

ENGINES = ("vllm", "transformers")

__all__ = [
    "ENGINES",
    "Engine",
    "EngineConfig",
    "Generation",
    "Request",
    "StopMatch",
    "StopRule",
    "StopScanner",
    "derive_seed",
    "get_engine",
    "load_engine",
]

_LOADED: dict[str, Engine] = {}


def load_engine(config: EngineConfig) -> Engine:
    """Load a fresh engine (the model is read once here; keep the object for every batch), with
    ``config.env`` set in this process until the engine is closed."""
    if config.kind not in ENGINES:
        raise ValueError(f"unknown engine {config.kind!r} (expected one of {', '.join(ENGINES)})")
    env = dict(config.env)
    if config.kind == "vllm" and config.batch_invariant:
        env["VLLM_BATCH_INVARIANT"] = "1"  # read when the engine and its worker processes start
    saved = set_env(env)
    try:
        if config.kind == "vllm":
            from s1slurm.eval.engines.vllm_engine import VLLMEngine  # pulls in vLLM (start-up time)

            engine: Engine = VLLMEngine(config)
        else:
            # pulls in torch and transformers (start-up time)
            from s1slurm.eval.engines.transformers_engine import TransformersEngine

            engine = TransformersEngine(config)
    except BaseException:
        restore_env(saved)
        raise
    engine._saved_env = saved
    return engine


def get_engine(config: EngineConfig) -> Engine:
    """The engine for ``config``, loaded once per process and then reused (tasks that run one
    after another in one process, as with the local executor, load the model only once)."""
    key = config.cache_key()
    if key not in _LOADED:
        for other in list(_LOADED):  # one model at a time: free the previous one first
            _LOADED.pop(other).close()
        _LOADED[key] = load_engine(config)
    return _LOADED[key]
