"""transformers engine: ``model.generate`` on one device, for machines without vLLM.

Two ways to run a batch, chosen by ``EngineConfig.batch_invariant``:

* batch-invariant (the default on this engine): one request at a time, no padding, so a prompt's
  greedy continuation does not depend on which other prompts share its batch, and a seeded request
  draws from its own seed. This is what makes the budget ladder token-identical to naive runs here.
* ``batch_invariant: false``: greedy requests that share their stop rule and ``min_tokens`` run
  together, left-padded (the usual batched ``generate``), each stopped on its own; sampled requests
  still run one by one (each draws from its own seed). Many short generations get much faster on a
  CPU; the logits of a batched row may differ from the single run's in the last bits (as vLLM's do).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from s1slurm.core.errors import MissingDependencyError
from s1slurm.eval.engines.base import Engine, EngineConfig, Request, StopRule, StopScanner, end_of_turn_ids

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "half": "float16"}
MAX_BATCH = 64  # rows per batched generate call (a CPU gains little beyond this)


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
        model: Any = AutoModelForCausalLM.from_pretrained(config.model, **kwargs)
        self.model = model.to(self.device)
        self.model.eval()
        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        model_len = getattr(AutoConfig.from_pretrained(config.model), "max_position_embeddings", None)
        self.max_model_len = int(config.max_model_len or model_len or 4096)
        self.eos_token_ids = end_of_turn_ids(self.tokenizer, config.model)
        self._pad = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else (self.eos_token_ids[0] if self.eos_token_ids else 0)
        )
        # None means this engine's default: batch-invariant
        self.batched = config.batch_invariant is False

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in requests]
        for idx in self._batches(requests):
            for i, ids in zip(idx, self._run([requests[i] for i in idx])):
                out[i] = ids
        return out

    def _batches(self, requests: list[Request]) -> Iterator[list[int]]:
        """Indices of the requests that run together: each alone when batch-invariant (and every
        sampled one, for its own seed); else greedy requests grouped by stop rule and ``min_tokens``."""
        groups: dict[tuple[StopRule, int], list[int]] = {}
        for i, r in enumerate(requests):
            if not self.batched or r.temperature > 0:
                yield [i]
            else:
                groups.setdefault((r.stop, r.min_tokens), []).append(i)
        for idx in groups.values():
            idx.sort(key=lambda i: len(requests[i].prompt))  # similar lengths pad less
            for k in range(0, len(idx), MAX_BATCH):
                yield idx[k : k + MAX_BATCH]

    def _run(self, batch: list[Request]) -> list[list[int]]:
        """One ``generate`` call over requests that share stop rule, ``min_tokens`` and sampling
        (a single request, or greedy rows): left-padded, each row stopped by its own rule and
        ``max_tokens``; returns each row's generated ids up to where it stopped."""
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        first = batch[0]
        width = max(len(r.prompt) for r in batch)
        rows = [[self._pad] * (width - len(r.prompt)) + list(r.prompt) for r in batch]
        mask = [[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in batch]
        scanner = StopScanner(self.tokenizer, first.stop)
        stopped_at: list[int | None] = [None] * len(batch)  # ids kept when the row stopped itself
        # each row's ids so far, extended by the new ones only: copying the whole row from the tensor
        # at every step would make a 32K-token generation quadratic
        seen: list[list[int]] = [[] for _ in batch]

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                n = input_ids.shape[1] - width
                done = []
                for row, r in enumerate(batch):
                    if stopped_at[row] is None:
                        generated = seen[row]
                        generated.extend(input_ids[row, width + len(generated) :].tolist())
                        if n >= r.max_tokens or (n > r.min_tokens and scanner.match_at(generated, n - 1)):
                            stopped_at[row] = n
                    done.append(stopped_at[row] is not None)
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        sampling: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p, "top_k": 0}
        config = GenerationConfig(
            max_new_tokens=max(r.max_tokens for r in batch),
            min_new_tokens=first.min_tokens or None,
            pad_token_id=self._pad,
            eos_token_id=list(first.stop.token_ids) or None,
            **sampling,
        )
        ids = torch.tensor(rows, dtype=torch.long, device=self.device)
        if first.temperature > 0:
            torch.manual_seed(first.seed)
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.tensor(mask, device=self.device),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([_Stop()]),
            )
        stop_ids = set(first.stop.token_ids)
        results = []
        for row, r in enumerate(batch):
            generated = out[row, width:].tolist()
            end = min(stopped_at[row] or len(generated), r.max_tokens)
            # a stop token ends the row inside generate (after min_tokens); what follows is padding
            for t in range(first.min_tokens, end):
                if generated[t] in stop_ids:
                    end = t + 1
                    break
            results.append(generated[:end])
        return results

    def close(self) -> None:
        if getattr(self, "model", None) is not None:
            del self.model
            self.model = None
        super().close()
