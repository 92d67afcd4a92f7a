"""The callable every task runs, locally or on a SLURM node: one shard of one stage.

It is what submitit pickles, so it holds only plain values (a reference to the stage's class, run
path, shard) and reloads the resolved spec from the run's manifest: the manifest is the single
source of truth. The launcher never looks stages up by name: whoever submits hands it a
:class:`StageRef`, and the task imports the class the reference names.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.config.loading import validation_error
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.distributed import DistEnv, current_dist_env

# The spec type of a stage (each stage is generic over its own JobSpec subclass).
SpecT = TypeVar("SpecT", bound=JobSpec)


@dataclass
class TaskContext(Generic[SpecT]):
    """Everything a running task needs: its run, spec, shard, place in the job, and a logger."""

    run: RunDir
    spec: SpecT
    profile: Profile
    shard: Shard
    task_index: int
    dist: DistEnv
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("s1slurm.task"))


@dataclass(frozen=True)
class StageRef:
    """Which stage a run's tasks run, as plain values: its name, its class as ``module:Class``
    (imported in the job) and whether its jobs may be requeued. Recorded in the manifest."""

    name: str
    target: str
    requeueable: bool = False

    def load(self) -> Any:
        """A fresh instance of the stage class (a :class:`~s1slurm.stages.base.Stage`, which this
        layer does not import)."""
        import importlib

        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)()

    def to_dict(self) -> dict:
        return {"name": self.name, "target": self.target, "requeueable": self.requeueable}

    @classmethod
    def from_manifest(cls, manifest: dict, *, file: str = "manifest.json") -> StageRef:
        """The reference recorded in a run's manifest at submission."""
        data = manifest.get("stage_ref")
        if not isinstance(data, dict) or set(data) != {"name", "target", "requeueable"}:
            raise ConfigError(
                "the manifest's stage reference is missing or not one s1slurm wrote",
                file=file,
                field="stage_ref",
                expected="name, target and requeueable",
            )
        return cls(**data)


def run_config(run: RunDir, spec_model: type[JobSpec]) -> tuple[JobSpec, Profile]:
    """The spec (as ``spec_model``) and profile recorded in a run's manifest (the single source
    for tasks)."""
    from pydantic import ValidationError

    manifest = run.read_manifest()
    try:
        spec = spec_model.model_validate(manifest["spec"])
    except ValidationError as e:
        raise validation_error(e, spec_model, run.manifest_path, prefix="spec") from None
    try:
        profile = Profile.model_validate(manifest["profile"])
    except ValidationError as e:
        raise validation_error(e, Profile, run.manifest_path, prefix="profile") from None
    return spec, profile


def write_task_state(run: RunDir, task_index: int, rank: int, state: str, **extra) -> None:
    """Record a task's state in the run folder (read by ``status`` and the dashboard)."""
    atomic_write_json(
        run.task_state_path(task_index, rank),
        {
            "task": task_index,
            "rank": rank,
            "state": state,
            "time": time.time(),
            "host": socket.gethostname(),
            "node": os.environ.get("SLURMD_NODENAME"),
            "job_id": os.environ.get("SLURM_JOB_ID"),
            "array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
            "array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
            "pid": os.getpid(),
            **extra,
        },
    )


@dataclass
class ShardTask:
    """Run ``shard`` (task ``task_index``) of ``stage`` for the run at ``run_path``."""

    stage: StageRef
    run_path: str
    shard: dict
    task_index: int

    def __call__(self, dist: DistEnv | None = None) -> str:
        run = RunDir(Path(self.run_path))
        shard = Shard.from_dict(self.shard)
        stage = self.stage.load()
        spec, profile = run_config(run, stage.spec_model)
        dist = dist or current_dist_env()
        logger = _task_logger(self.task_index, dist.global_rank)
        if run.is_done(shard):
            logger.info("shard %s is already done; nothing to do", shard.id)
            write_task_state(run, self.task_index, dist.global_rank, "completed", skipped=True)
            return shard.id
        if dist.world_size > 1:
            os.environ.update(dist.torch_env())
        ctx = TaskContext(
            run=run,
            spec=spec,
            profile=profile,
            shard=shard,
            task_index=self.task_index,
            dist=dist,
            logger=logger,
        )
        self._ctx, self._stage = ctx, stage
        write_task_state(run, self.task_index, dist.global_rank, "running", dist=dist.to_dict())
        started = time.time()
        try:
            stage.run(ctx)
        except BaseException as e:
            write_task_state(
                run,
                self.task_index,
                dist.global_rank,
                "failed",
                error=f"{type(e).__name__}: {e}",
                traceback=traceback.format_exc(),
                elapsed_s=time.time() - started,
            )
            raise
        write_task_state(run, self.task_index, dist.global_rank, "completed", elapsed_s=time.time() - started)
        return shard.id

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on USR2 (time limit or preemption): requeue if the stage asks."""
        import submitit

        ctx = getattr(self, "_ctx", None)
        if ctx is None:
            return None
        if self._stage.on_requeue_signal(ctx):
            fresh = ShardTask(self.stage, self.run_path, self.shard, self.task_index)
            return submitit.helpers.DelayedSubmission(fresh)
        return None


class _TaskStderr(logging.StreamHandler):
    """The stderr handler of a task's logger (added once per logger, however often a task runs)."""


def _task_logger(task_index: int, rank: int) -> logging.Logger:
    """A logger writing to stderr (the task's log file) with the task and rank in each line."""
    logger = logging.getLogger(f"s1slurm.task.{task_index}.{rank}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not any(isinstance(h, _TaskStderr) for h in logger.handlers):
        handler = _TaskStderr(sys.stderr)
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s task {task_index} rank {rank} %(levelname)s %(message)s")
        )
        logger.addHandler(handler)
    return logger
