"""transformers engine: ``model.generate`` one request at a time, for machines without vLLM.

Requests run one by one (batch size 1): no padding, so a prompt's greedy continuation does not
depend on which other prompts share its batch, and a seeded request draws from its own seed.
This is what makes the budget ladder token-identical to naive runs on this engine.
"""

from __future__ import annotations

from typing import Any

from s1slurm.core.errors import MissingDependencyError
from s1slurm.eval.engines.base import Engine, EngineConfig, Request, StopScanner, end_of_turn_ids

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "half": "float16"}


class TransformersEngine(Engine):
    kind = "transformers"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        try:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingDependencyError("transformers", "eval-cpu") from None
        if config.tensor_parallel_size != 1:
            raise ValueError("the transformers engine runs on one device (tensor_parallel_size 1)")
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if config.dtype == "auto":
            dtype: Any = torch.float32 if self.device == "cpu" else "auto"
        else:
            dtype = getattr(torch, _DTYPES.get(config.dtype, config.dtype))
        kwargs = {"dtype": dtype, **config.engine_args}
        self.model = AutoModelForCausalLM.from_pretrained(config.model, **kwargs).to(self.device)
        self.model.eval()
        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        model_len = getattr(AutoConfig.from_pretrained(config.model), "max_position_embeddings", None)
        self.max_model_len = int(config.max_model_len or model_len or 4096)
        self.eos_token_ids = end_of_turn_ids(self.tokenizer, config.model)
        self._pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (
            self.eos_token_ids[0] if self.eos_token_ids else 0)

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        return [self._one(r) for r in requests]

    def _one(self, r: Request) -> list[int]:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        prompt_len = len(r.prompt)
        scanner = StopScanner(self.tokenizer, r.stop)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                generated = input_ids[0, prompt_len:].tolist()
                done = (len(generated) > r.min_tokens
                        and scanner.match_at(generated, len(generated) - 1) is not None)
                return torch.tensor([done], dtype=torch.bool, device=input_ids.device)

        sampling: dict[str, Any] = {"do_sample": False}
        if r.temperature > 0:
            sampling = {"do_sample": True, "temperature": r.temperature, "top_p": r.top_p, "top_k": 0}
        config = GenerationConfig(max_new_tokens=r.max_tokens, min_new_tokens=r.min_tokens or None,
                                  pad_token_id=self._pad,
                                  eos_token_id=list(r.stop.token_ids) or None, **sampling)
        ids = torch.tensor([list(r.prompt)], dtype=torch.long, device=self.device)
        if r.temperature > 0:
            torch.manual_seed(r.seed)
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config,
                                      stopping_criteria=StoppingCriteriaList([_Stop()]))
        return out[0, prompt_len:].tolist()

    def close(self) -> None:
        if getattr(self, "model", None) is not None:
            del self.model
            self.model = None
