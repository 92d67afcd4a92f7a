"""Batch arithmetic and the process layout of one training job (no torch needed).

The global batch is fixed by the recipe (16 in s1); the layout decides how it is reached::

    gradient accumulation = global batch / (nodes x processes per node x micro batch)

and a layout that cannot reach the global batch exactly is refused before submission.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from s1slurm.config.cluster import Profile
from s1slurm.core.errors import ConfigError


@dataclass(frozen=True)
class Layout:
    """Where the ranks of a training job run."""

    nodes: int
    processes_per_node: int
    gpus_per_node: int
    one_task_per_rank: bool  # True: every SLURM task is a rank; False: one torchrun per node
    sequence_parallel: int = 1  # ranks sharing one sequence (DeepSpeed Ulysses)

    @property
    def world_size(self) -> int:
        return self.nodes * self.processes_per_node

    @property
    def data_parallel(self) -> int:
        """Ranks that see different sequences: the global batch is reached over these."""
        return self.world_size // self.sequence_parallel

    def to_dict(self) -> dict:
        return {**asdict(self), "world_size": self.world_size}


def layout_for(
    profile: Profile, processes_per_node: int | None, *, sequence_parallel: int = 1, file: str | None = None
) -> Layout:
    """The layout of a job run with ``profile``; ConfigError when tasks and ranks do not fit."""
    ppn = processes_per_node or (profile.gpus_per_node or 1)
    if profile.gpus_per_node and ppn > profile.gpus_per_node:
        raise ConfigError(
            f"{ppn} processes per node but only {profile.gpus_per_node} GPUs per node",
            file=file,
            field="launch.processes_per_node",
            expected=f"at most {profile.gpus_per_node}",
        )
    if profile.tasks_per_node == 1:
        per_task = False
    elif profile.tasks_per_node == ppn:
        per_task = True
    else:
        raise ConfigError(
            f"tasks_per_node is {profile.tasks_per_node} but there are {ppn} processes per node",
            file=file,
            field="cluster.tasks_per_node",
            expected=f"1 (one torchrun per node) or {ppn} (one task per rank)",
        )
    world = profile.nodes * ppn
    if world % sequence_parallel:
        raise ConfigError(
            f"sequence-parallel size {sequence_parallel} does not divide the {world} ranks "
            f"({profile.nodes} node(s) x {ppn})",
            file=file,
            field="memory.sequence_parallel_size",
            expected=f"a divisor of {world}",
        )
    return Layout(
        nodes=profile.nodes,
        processes_per_node=ppn,
        gpus_per_node=profile.gpus_per_node,
        one_task_per_rank=per_task,
        sequence_parallel=sequence_parallel,
    )


def gradient_accumulation(
    global_batch: int,
    world_size: int,
    micro_batch: int,
    *,
    file: str | None = None,
    sequence_parallel: int = 1,
) -> int:
    """Accumulation steps so that ``data-parallel ranks x micro_batch x steps == global_batch`` exactly.

    ``world_size`` counts data-parallel ranks (GPUs / sequence-parallel size).
    """
    per_step = world_size * micro_batch
    if per_step <= 0 or global_batch % per_step:
        options = sorted({d for d in range(1, global_batch + 1) if global_batch % d == 0})
        sp = (
            f" data-parallel ranks (GPUs / sequence-parallel size {sequence_parallel})"
            if sequence_parallel > 1
            else " processes"
        )
        raise ConfigError(
            f"global batch {global_batch} cannot be reached with {world_size}{sp} x micro batch "
            f"{micro_batch} = {per_step} sequences per accumulation step",
            file=file,
            field="recipe.global_batch_size",
            expected=f"processes x micro batch dividing {global_batch} (one of {options})",
        )
    return global_batch // per_step


def steps_per_epoch(num_examples: int, world_size: int, micro_batch: int, accumulation: int) -> int:
    """Optimizer steps in one epoch, as the transformers Trainer counts them.

    Each rank gets ``ceil(ceil(N / micro) / world)`` micro-batches (the last ones padded by
    repetition); an epoch ends with a possibly shorter accumulation.
    """
    if num_examples <= 0:
        return 0
    batches_per_rank = math.ceil(math.ceil(num_examples / micro_batch) / world_size)
    return max(math.ceil(batches_per_rank / accumulation), 1)


def total_steps(
    num_examples: int,
    epochs: float,
    world_size: int,
    micro_batch: int,
    accumulation: int,
    max_steps: int | None = None,
) -> int:
    """All optimizer steps of the run (``max_steps`` wins when set)."""
    if max_steps:
        return max_steps
    return math.ceil(epochs * steps_per_epoch(num_examples, world_size, micro_batch, accumulation))


def warmup_steps(total: int, fraction: float) -> int:
    """Linear warmup length, rounded up as transformers does for a fractional ``warmup_steps``."""
    return math.ceil(total * fraction)
