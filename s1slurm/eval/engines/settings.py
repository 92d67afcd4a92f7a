"""How a spec asks for a generation engine: the fields the eval spec and curation's model steps
share (one definition), validated at the edge and turned into an :class:`EngineConfig`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.core.errors import FieldError
from s1slurm.eval.engines.base import EngineConfig

# questions per engine batch when the spec gives none: vLLM schedules a large batch itself; the
# transformers engine (CPU tests, small models) keeps its resume points close together
DEFAULT_BATCH = {"vllm": 64, "transformers": 4}


class EngineSettings(Strict):
    """The engine, how it loads the model, and how it samples."""

    engine: Literal["vllm", "transformers"] = "vllm"
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per task (vLLM tensor parallel)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: int | None = Field(None, ge=32, description="context length (default: the model's)")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="vLLM memory fraction (default 0.9 on GPUs, 0.3 of RAM on CPUs)"
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="extra keyword arguments for vllm.LLM or from_pretrained"
    )
    engine_env: dict[str, str] = Field(
        default_factory=dict,
        description="environment variables set while "
        "the engine loads and runs (vLLM reads VLLM_* at start-up), e.g. "
        "VLLM_ENABLE_V1_MULTIPROCESSING: '0' keeps vLLM in the task's process",
    )
    temperature: float = Field(0.0, ge=0, description="0: greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = Field(0, ge=0)
    batch_size: int | None = Field(
        None,
        ge=1,
        description="questions per engine batch and per "
        "resume point (default: 64 on vLLM, 4 on transformers)",
    )
    batch_invariant: bool | None = Field(
        None,
        description="deterministic, batch-invariant generation: vLLM's kernels (VLLM_BATCH_INVARIANT=1, "
        "the ladder equals separate runs on GPUs); on transformers one request at a time. Default: off "
        "on vLLM, on for transformers (false there batches greedy requests, left-padded)",
    )

    @model_validator(mode="after")
    def _one_device(self) -> EngineSettings:
        if self.engine == "transformers" and self.tensor_parallel_size != 1:
            raise FieldError(
                "tensor_parallel_size",
                "the transformers engine runs on one device: tensor_parallel_size must be 1",
            )
        return self

    def effective_batch_size(self) -> int:
        return self.batch_size or DEFAULT_BATCH[self.engine]

    def is_batch_invariant(self) -> bool:
        """Whether generation is batch-invariant as configured (None: the engine's default)."""
        return self.batch_invariant if self.batch_invariant is not None else self.engine == "transformers"

    def engine_config(self, model: str) -> EngineConfig:
        """The engine's load settings for ``model`` (a folder or hub id, already resolved)."""
        return EngineConfig(
            kind=self.engine,
            model=model,
            tensor_parallel_size=self.tensor_parallel_size,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            seed=self.seed,
            gpu_memory_utilization=self.gpu_memory_utilization,
            engine_args=dict(self.engine_args),
            batch_invariant=self.batch_invariant,
            env=dict(self.engine_env),
        )
