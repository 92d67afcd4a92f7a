"""The transformers Trainer, adapted for s1slurm: atomic checkpoints, stop on USR2, a step log.

Imports torch and transformers; only the ranks (``s1slurm.train.worker``) import this module.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import Trainer, TrainerCallback

from s1slurm.train.checkpoints import CheckpointManager


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def is_main() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class StopOnRequest(TrainerCallback):
    """Agree across ranks, after every optimizer step, whether to checkpoint and stop.

    A rank wants to stop when it got USR2 or the attempt's stop file exists (written by the node
    launcher when submitit signals it). The decision is an all-reduce, so every rank saves the
    same step. The last step always saves a checkpoint too.
    """

    def __init__(self, flag: Any, stop_file: Path) -> None:  # flag: worker.StopFlag
        self.flag = flag
        self.stop_file = stop_file
        self.stopped_at: int | None = None

    def _wanted(self, device: torch.device) -> bool:
        local = 1 if (self.flag.is_set or self.stop_file.exists()) else 0
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            t = torch.tensor([local], device=device, dtype=torch.int32)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            local = int(t.item())
        return bool(local)

    def on_step_end(self, args, state, control, **kwargs):
        last = state.max_steps and state.global_step >= state.max_steps
        if last:
            control.should_save = True
        elif self._wanted(args.device):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
            why = ("USR2" if self.flag.is_set else f"a stop request ({self.stop_file})"
                   if self.stop_file.exists() else "another rank's USR2 or stop request")
            print(f"s1slurm: {why}: checkpointing step {state.global_step} and stopping", flush=True)
        return control


class StepLog(TrainerCallback):
    """Rank 0 appends one JSON line per logged step to ``steps.jsonl``; every rank times the attempt."""

    def __init__(self, path: Path, attempt: str) -> None:
        self.path = path
        self.attempt = attempt
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.train_started: float | None = None
        self.train_ended: float | None = None
        self.tokens_start = 0
        self.start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.train_started = time.time()
        self.tokens_start = int(state.num_input_tokens_seen or 0)
        self.start_step = int(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.first_step is None:
            self.first_step = state.global_step
        self.last_step = state.global_step
        self.train_ended = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"step": state.global_step, "epoch": state.epoch, "loss": logs["loss"],
               "learning_rate": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
               "tokens_seen": int(state.num_input_tokens_seen or 0), "time": time.time(),
               "attempt": self.attempt}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=float) + "\n")


class S1Trainer(Trainer):
    """Trainer whose checkpoints are staged, sealed and renamed by :class:`CheckpointManager`."""

    def __init__(self, *args: Any, checkpoints: CheckpointManager, weights_in_checkpoints: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoints = checkpoints
        self.weights_in_checkpoints = weights_in_checkpoints
        self._in_checkpoint = False

    def _get_output_dir(self, trial: Any) -> str:
        # The Trainer writes checkpoint-<step> under this folder: the staging area.
        return str(self.checkpoints.staging_root)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if self._in_checkpoint and not self.weights_in_checkpoints:
            return  # the DeepSpeed shards written next hold the weights; skip the 16-bit gather
        super().save_model(output_dir, _internal_call)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        step = self.state.global_step
        if is_main():
            self.checkpoints.clean_staging()
        barrier()
        self._in_checkpoint = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._in_checkpoint = False
        barrier()  # every rank has written its shards
        if is_main():
            self.checkpoints.finalize(step, {"epoch": self.state.epoch,
                                             "tokens_seen": int(self.state.num_input_tokens_seen or 0)})
        barrier()
