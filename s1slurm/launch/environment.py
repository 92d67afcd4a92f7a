"""The environment a submission is made from.

A submission from inside a SLURM job (evaluation started by training, say) must not leak the
parent job's allocation into the child: sbatch reads ``SLURM_*``/``SBATCH_*`` variables as options.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

_PREFIXES = (
    "SLURM_",
    "SLURMD_",
    "SBATCH_",
    "SRUN_",
    "SALLOC_",
    "SUBMITIT_",
    "TORCHELASTIC_",
    "PMI_",
    "PMIX_",
    "OMPI_",
)
# What torch.distributed and torchrun read to place a process; never inherited by a new job or launcher.
TORCH_DISTRIBUTED_VARS = frozenset(
    {
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
        "GROUP_RANK",
        "ROLE_RANK",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "GROUP_WORLD_SIZE",
        "ROLE_WORLD_SIZE",
        "TORCHELASTIC_RUN_ID",
    }
)
# Variables that locate the cluster rather than describe the current job.
_KEEP = {"SLURM_CONF", "SLURM_CONFIG_DIR"}


def scrubbed(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without inherited job, step and torch-distributed variables (SLURM_CONF kept)."""
    return {
        k: v
        for k, v in environ.items()
        if k in _KEEP or not (k.startswith(_PREFIXES) or k in TORCH_DISTRIBUTED_VARS)
    }


@contextlib.contextmanager
def submission_environment() -> Iterator[None]:
    """Scrub ``os.environ`` while sbatch runs (submitit calls it with the process environment)."""
    saved = dict(os.environ)
    clean = scrubbed(saved)
    try:
        for key in set(saved) - set(clean):
            del os.environ[key]
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
