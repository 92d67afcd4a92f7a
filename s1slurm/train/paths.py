"""Every file a training run writes, in one place (used by the stage, the launcher and the ranks).

Under the run's shard folder ``outputs/train-00000-of-00001/``::

    model/                  the final Hugging Face folder (16-bit weights, tokenizer, chat template)
    train_summary.json      steps, epochs, tokens, loss curve, truncation, wall time, throughput, requeues
    checkpoints/            checkpoint-<step>/ (complete ones only), .staging/ (being written)
    tokenized/              the tokenized dataset, shared by all ranks and attempts
    dataset_stats.json      examples, truncated and dropped examples, token counts
    deepspeed.json          the rendered DeepSpeed config
    steps.jsonl             one line per logged optimizer step (rank 0), across attempts
    training_curves.png     loss, learning rate and gradient norm per step (written with the summary)
    tensorboard/            TensorBoard event files (with report_to: [tensorboard])
    attempts/<attempt>.json what each attempt (one SLURM start) did and how it ended
    stop/<attempt>          written to ask the ranks of an attempt to checkpoint and exit
    requeues.json           timeouts and preemptions so far

and per-rank logs in ``logs/train/<attempt>/rank-<r>.log`` of the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard, make_shards

SHARD = make_shards("train", 1)[0]


def current_attempt() -> str:
    """The id of this start of the job: ``<job id>.<restart count>`` under SLURM.

    Every node of one start computes the same id; a requeued job gets a new one.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        return f"{job}.{os.environ.get('SLURM_RESTART_COUNT', '0')}"
    return os.environ.get("S1SLURM_TRAIN_ATTEMPT", f"local.{os.getpid()}")


@dataclass(frozen=True)
class TrainPaths:
    """Paths of one training run."""

    run: RunDir
    shard: Shard = SHARD

    @property
    def root(self) -> Path:
        return self.run.shard_path(self.shard)

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def summary(self) -> Path:
        return self.root / "train_summary.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tokenized_dir(self) -> Path:
        return self.root / "tokenized"

    @property
    def dataset_stats(self) -> Path:
        return self.root / "dataset_stats.json"

    @property
    def deepspeed_config(self) -> Path:
        return self.root / "deepspeed.json"

    @property
    def steps_log(self) -> Path:
        return self.root / "steps.jsonl"

    @property
    def curves_plot(self) -> Path:
        return self.root / "training_curves.png"

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / "tensorboard"

    @property
    def attempts_dir(self) -> Path:
        return self.root / "attempts"

    def attempt_record(self, attempt: str) -> Path:
        return self.attempts_dir / f"{attempt}.json"

    def stop_request(self, attempt: str) -> Path:
        return self.root / "stop" / attempt

    @property
    def requeues(self) -> Path:
        return self.root / "requeues.json"

    def rank_log(self, attempt: str, rank: int) -> Path:
        return self.run.logs_dir / "train" / attempt / f"rank-{rank:03d}.log"

    def rank_logs(self, attempt: str) -> list[Path]:
        return sorted((self.run.logs_dir / "train" / attempt).glob("rank-*.log"))
