"""The training job spec (``jobs/train-*.yaml``): model, data, recipe, checkpoints and launch.

Defaults are the s1 recipe (Qwen2.5-32B-Instruct, 5 epochs, global batch 16, lr 1e-5, 5% linear
warmup then cosine to 0, AdamW betas 0.9/0.95, weight decay 1e-4, bf16, block size 32768).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec

# Which columns hold the question, the reasoning trace and the final answer in known datasets.
FIELD_PRESETS: dict[str, dict[str, str]] = {
    # simplescaling/s1K: thinking_trajectories is a list of strings (one trace, from Gemini).
    "s1k": {"question": "question", "trace": "thinking_trajectories", "answer": "attempt"},
    # simplescaling/s1K-1.1: DeepSeek-R1 traces (what s1.1 trained on) or the Gemini ones.
    "s1k-1.1": {
        "question": "question",
        "trace": "deepseek_thinking_trajectory",
        "answer": "deepseek_attempt",
    },
    "s1k-1.1-gemini": {
        "question": "question",
        "trace": "gemini_thinking_trajectory",
        "answer": "gemini_attempt",
    },
    # The output of ``s1slurm submit curate`` keeps the s1K column names.
    "curate": {"question": "question", "trace": "thinking_trajectories", "answer": "attempt"},
}


class FieldMap(Strict):
    """Column names of the question, the reasoning trace (a string or a list of strings) and the answer."""

    question: str = "question"
    trace: str = "thinking_trajectories"
    answer: str = "attempt"


DATA_FORMATS = ("s1", "token_conditional", "step_conditional")
"""How a record becomes a conversation (s1slurm.train.data.to_messages): s1's format, or the
paper's token- and step-conditional formats (Appendix E.1, Figure 10)."""


class DataSpec(Strict):
    """Where the training examples come from, which columns to read and the conversation format."""

    source: str = Field(..., description="hub dataset id, or a local .jsonl/.json/.parquet file")
    split: str = Field("train", description="split of a hub dataset")
    fields: FieldMap | str = Field("s1k", description=f"a preset ({', '.join(FIELD_PRESETS)}) or a mapping")
    limit: int | None = Field(None, ge=1, description="use only the first N examples (smoke tests)")
    format: Literal["s1", "token_conditional", "step_conditional"] = Field(
        "s1",
        description="s1 (think/answer), token_conditional (the trace's length bucket in the prompt) "
        "or step_conditional (steps counted down in the trace): the paper's Appendix E.1",
    )
    system_prompt: str | None = Field(
        None, description="system message; None keeps the chat template's own default"
    )

    @field_validator("fields")
    @classmethod
    def _preset(cls, v: FieldMap | str) -> FieldMap | str:
        if isinstance(v, str) and v not in FIELD_PRESETS:
            raise ValueError(
                f"unknown preset {v!r} (presets: {', '.join(FIELD_PRESETS)}; "
                "or a mapping with keys question, trace, answer)"
            )
        return v

    def field_map(self) -> FieldMap:
        return FieldMap(**FIELD_PRESETS[self.fields]) if isinstance(self.fields, str) else self.fields


class RecipeSpec(Strict):
    """Optimisation settings. The global batch stays the same on any layout."""

    epochs: float = Field(5, gt=0)
    global_batch_size: int = Field(16, ge=1)
    micro_batch_size: int = Field(1, ge=1, description="sequences per process per forward pass")
    learning_rate: float = Field(1e-5, gt=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="linear warmup, fraction of all steps")
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.95, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    block_size: int = Field(32768, ge=16, description="longer sequences are truncated (s1.1 used 20000)")
    precision: Literal["bf16", "fp32"] = "bf16"
    gradient_checkpointing: bool = True
    loss_averaging: Literal["sequence", "token"] = Field(
        "sequence",
        description="sequence: every sequence weighs the same (s1: micro batch 1, no accumulation, "
        "the mean over each sequence's tokens); token: every token weighs the same "
        "(transformers 5's default, average_tokens_across_devices)",
    )
    seed: int = 42
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (overrides epochs)")
    dataloader_workers: int = Field(0, ge=0)


class MemorySpec(Strict):
    """What makes a long sequence fit a GPU (see ``s1slurm plan train`` and the estimate in docs/training.md)."""

    liger_kernel: bool = Field(
        False,
        description="fused linear cross-entropy (and Liger's other kernels): the logits are never "
        "materialised; needs the liger-kernel package and a GPU",
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"] = Field(
        "sdpa", description="attention kernel passed to from_pretrained; flash_attention_* needs flash-attn"
    )
    offload_optimizer: bool = Field(
        False, description="ZeRO-3 offload of the fp32 optimizer state to CPU memory"
    )
    offload_parameters: bool = Field(False, description="ZeRO-3 offload of the bf16 parameters to CPU memory")
    sequence_parallel_size: int = Field(
        1,
        ge=1,
        description="DeepSpeed Ulysses (ALST) sequence parallelism: GPUs sharing one sequence; "
        "data-parallel ranks = GPUs / this",
    )


class PlannerSpec(Strict):
    """Assumptions of the planner (``s1slurm plan train``); printed with every plan."""

    mfu: float = Field(0.40, gt=0, le=1, description="model FLOPs utilisation assumed for step times")
    peak_tflops: float = Field(989.0, gt=0, description="dense bf16 peak per GPU (H100 SXM: 989)")
    typical_longest_tokens: int | None = Field(
        None,
        ge=1,
        description="longest sequence of a typical step, for the total time (default: 7000, what "
        "the paper's 26 minutes for 315 steps imply; the worst case uses block_size)",
    )
    examples: int | None = Field(
        None,
        ge=1,
        description="training examples (default: data.limit, the local "
        "file's lines, or 1000 for s1K / s1K-1.1)",
    )
    checkpoint_write_gb_s_per_node: float = Field(
        2.0, gt=0, description="file system write bandwidth per node"
    )
    checksum_gb_s_per_rank: float = Field(1.0, gt=0, description="checksum speed of one rank (sealing)")
    interconnect_gb_s_per_gpu: float = Field(50.0, gt=0, description="ZeRO-3 all-gather bandwidth per GPU")
    overhead_gb: float = Field(4.0, ge=0, description="CUDA context, NCCL buffers, allocator fragmentation")


class CheckpointSpec(Strict):
    """When to save resumable checkpoints and how many to keep."""

    every_steps: int = Field(50, ge=1)
    every_minutes: float | None = Field(
        None, gt=0, description="also checkpoint when this many minutes passed since the last one"
    )
    keep_last: int = Field(2, ge=1)
    with_weights: bool = Field(
        False,
        description="also write consolidated 16-bit weights into every checkpoint "
        "(the DeepSpeed shards already hold everything resuming needs)",
    )


class LaunchSpec(Strict):
    """How ranks are started on each node.

    With ``tasks_per_node: 1`` (the default) each node's task runs ``torchrun`` with
    ``processes_per_node`` workers; with ``tasks_per_node`` equal to the processes per node, every
    SLURM task is one rank (one task per GPU).
    """

    processes_per_node: int | None = Field(
        None, ge=1, description="ranks per node (default: gpus_per_node, or 1 without GPUs)"
    )
    backend: Literal["auto", "nccl", "gloo"] = Field("auto", description="auto: nccl with GPUs, gloo without")
    stop_margin_s: float = Field(
        20,
        gt=0,
        description="kept back from the warning (signal_delay_s before the time limit, or the "
        "partition's GraceTime on preemption) for the requeue and the exit: the ranks "
        "get the rest to checkpoint",
    )


class TrainSpec(JobSpec):
    """``jobs/train-*.yaml``."""

    stage: str = "train"
    model: str = Field("Qwen/Qwen2.5-32B-Instruct", description="hub id or local model folder")
    data: DataSpec
    recipe: RecipeSpec = Field(default_factory=RecipeSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    launch: LaunchSpec = Field(default_factory=LaunchSpec)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
    deepspeed: Path = Field(
        Path("templates/deepspeed/zero3.json"),
        description="ZeRO-3 template; 'auto' values are filled from the recipe",
    )
    report_to: list[Literal["tensorboard", "wandb"]] = Field(
        default_factory=list,
        description="the Trainer's logging integrations besides the step log: TensorBoard (event files in "
        "the run folder), wandb (offline, WANDB_MODE=offline; s1 trained with wandb); each needs "
        "its package. The loss / learning rate / gradient norm plot (training_curves.png) is "
        "always drawn",
    )
    eval_after: Path | None = Field(
        None, description="eval job spec submitted with an afterok dependency on this run"
    )
