"""Checks of the memory options of a training spec against the model, the layout and this install.

Everything here runs at submission (exit code 2 before anything is queued): Liger, flash-attention
or sequence parallelism asked for where they are not installed or cannot work, a sequence-parallel
size that does not divide the model's heads, a loss weighting the other options cannot give.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from s1slurm.core.errors import ConfigError
from s1slurm.train.cost_estimate import ModelShape
from s1slurm.train.recipe import Layout

# The Python module each option needs, and the extra or package that installs it.
_PACKAGES = {
    "liger_kernel": ("liger_kernel", "liger-kernel (pip install 's1slurm[gpu]')"),
    "flash_attention_2": ("flash_attn", "flash-attn (built for your CUDA and torch)"),
    "flash_attention_3": ("flash_attn_interface", "flash-attn 3 (the hopper build of flash-attention)"),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    return importlib.util.find_spec(module) is not None


def check_memory_options(
    spec: Any, layout: Layout, shape: ModelShape | None, *, file: str | None, dry_run: bool = False
) -> list[str]:
    """ConfigError for the first memory option that cannot work for ``spec`` on ``layout``.

    A package missing on this machine is an error for a submission, and only a note (returned) for
    planning and dry runs, which may well be made away from the GPU cluster's environment.
    """
    notes: list[str] = []
    m, r = spec.memory, spec.recipe
    gpus = layout.gpus_per_node > 0
    wanted = []
    if m.liger_kernel:
        wanted.append(("memory.liger_kernel", "liger_kernel", "Liger's Triton kernels"))
    if m.attn_implementation.startswith("flash_attention"):
        wanted.append(("memory.attn_implementation", m.attn_implementation, m.attn_implementation))
    for field, key, what in wanted:
        module, package = _PACKAGES[key]
        if not gpus:
            raise ConfigError(
                f"{what} need GPUs, and this layout has none (gpus_per_node: 0)",
                file=file,
                field=field,
                expected="a GPU profile, or the option off",
            )
        if not installed(module):
            if dry_run:
                notes.append(
                    f"{field}: the Python package '{module}' is not installed here; a submission "
                    f"from here is refused (install {package})"
                )
                continue
            raise ConfigError(
                f"{what} asked for, but the Python package '{module}' is not installed here",
                file=file,
                field=field,
                expected=f"{package}, or the option off",
            )
    if r.loss_averaging == "sequence" and m.liger_kernel and r.micro_batch_size > 1:
        raise ConfigError(
            "per-sequence loss weighting with the fused (Liger) loss needs micro batch 1: the "
            "fused loss only returns the mean over the micro-batch's tokens",
            file=file,
            field="recipe.micro_batch_size",
            expected="1 (or loss_averaging: token)",
        )
    sp = m.sequence_parallel_size
    if sp == 1:
        return notes
    if not installed("deepspeed") or not installed("deepspeed.runtime.sequence_parallel"):
        raise ConfigError(
            "sequence parallelism needs DeepSpeed's Ulysses (deepspeed>=0.18.2)",
            file=file,
            field="memory.sequence_parallel_size",
            expected="1, or a newer deepspeed",
        )
    if m.attn_implementation == "eager":
        raise ConfigError(
            "DeepSpeed Ulysses works with sdpa or flash attention, not eager",
            file=file,
            field="memory.attn_implementation",
            expected="sdpa, flash_attention_2 or flash_attention_3",
        )
    if r.loss_averaging == "token":
        raise ConfigError(
            "under sequence parallelism the Trainer weighs each sequence by its own tokens "
            "(transformers' deepspeed_sp_compute_loss); token weighting across the batch is not "
            "available",
            file=file,
            field="recipe.loss_averaging",
            expected="sequence",
        )
    if layout.processes_per_node % sp and sp % layout.processes_per_node:
        raise ConfigError(
            f"sequence-parallel size {sp} and {layout.processes_per_node} ranks per node: a "
            "sequence-parallel group must lie within a node or span whole nodes",
            file=file,
            field="memory.sequence_parallel_size",
            expected=f"a divisor or a multiple of {layout.processes_per_node}",
        )
    if shape is not None:
        heads, kv = shape.num_attention_heads, shape.num_key_value_heads
        if heads % sp or (kv % sp and sp % kv):
            raise ConfigError(
                f"sequence-parallel size {sp} does not divide the model's {heads} attention "
                f"heads and {kv} key/value heads (Ulysses gives each rank whole heads)",
                file=file,
                field="memory.sequence_parallel_size",
                expected=f"a common divisor of {heads} and {kv}",
            )
    return notes


def parallelism_config(spec: Any) -> Any:
    """accelerate's ParallelismConfig for DeepSpeed Ulysses, or None without sequence parallelism.

    Passed to ``TrainingArguments(parallelism_config=...)``: transformers' Trainer then wraps the
    attention with DeepSpeed's ``UlyssesSPAttentionHF`` and the data loader with its adapter.
    """
    m = spec.memory
    if m.sequence_parallel_size == 1:
        return None
    from accelerate.parallelism_config import ParallelismConfig
    from accelerate.utils import DeepSpeedSequenceParallelConfig

    handler = DeepSpeedSequenceParallelConfig(
        sp_seq_length_is_variable=True, sp_attn_implementation=m.attn_implementation
    )
    return ParallelismConfig(sp_backend="deepspeed", sp_size=m.sequence_parallel_size, sp_handler=handler)
