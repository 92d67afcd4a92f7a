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

from s1slurm.train.checkpoints import CheckpointManager, seal_files


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def is_main() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class StopOnRequest(TrainerCallback):
    """Agree across ranks, after every optimizer step, whether to checkpoint, and whether to stop.

    A rank wants to stop when it got USR2 or SIGTERM, or the attempt's stop file exists (written by
    the node launcher when its task is signalled). A checkpoint is also due every ``every_minutes``
    (rank 0's clock decides). One all-reduce carries both, so every rank saves the same step. The
    last step always saves a checkpoint too.
    """

    def __init__(self, flag: Any, stop_file: Path, every_minutes: float | None = None) -> None:
        self.flag = flag  # worker.StopFlag
        self.stop_file = stop_file
        self.every_s = every_minutes * 60 if every_minutes else None
        self.last_save = time.time()
        self.stopped_at: int | None = None
        self.timed_saves: list[int] = []

    def _agree(self, device: torch.device) -> tuple[bool, bool]:
        stop = 1 if (self.flag.is_set or self.stop_file.exists()) else 0
        due = (
            1
            if (self.every_s is not None and is_main() and time.time() - self.last_save >= self.every_s)
            else 0
        )
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            t = torch.tensor([stop, due], device=device, dtype=torch.int32)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            stop, due = (int(v) for v in t.tolist())
        return bool(stop), bool(due)

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        last = state.max_steps and state.global_step >= state.max_steps
        if last:
            control.should_save = True
            return control
        stop, due = self._agree(args.device)
        if stop:
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
            why = (
                f"signal {self.flag.name}"
                if self.flag.is_set
                else f"a stop request ({self.stop_file})"
                if self.stop_file.exists()
                else "another rank's signal or stop request"
            )
            print(f"s1slurm: {why}: checkpointing step {state.global_step} and stopping", flush=True)
        elif due and not control.should_save:
            control.should_save = True
            self.timed_saves.append(state.global_step)
            print(
                f"s1slurm: {(self.every_s or 0) / 60:g} minutes since the last checkpoint: checkpointing step "
                f"{state.global_step}",
                flush=True,
            )
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
        row = {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": logs["loss"],
            "learning_rate": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
            "tokens_seen": int(state.num_input_tokens_seen or 0),
            "time": time.time(),
            "attempt": self.attempt,
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=float) + "\n")


def sequence_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over each sequence's own predicted tokens, then over the sequences.

    The s1 weighting: with micro batch 1 and no accumulation every sequence weighed the same,
    whatever its length. Labels are shifted as causal LM losses do; -100 is ignored.
    """
    shift_logits = logits[..., :-1, :].float()
    shift_labels = labels[..., 1:]
    per_token = torch.nn.functional.cross_entropy(
        shift_logits.transpose(1, 2), shift_labels, ignore_index=-100, reduction="none"
    )
    counts = (shift_labels != -100).sum(dim=1)
    kept = counts > 0
    per_sequence = per_token.sum(dim=1)[kept] / counts[kept]
    return per_sequence.mean() if per_sequence.numel() else per_token.sum() * 0.0


class S1Trainer(Trainer):
    """Trainer whose checkpoints are staged, sealed and renamed by :class:`CheckpointManager`, with
    the loss weighted per sequence (s1) or per token (transformers' default)."""

    def __init__(
        self,
        *args: Any,
        checkpoints: CheckpointManager,
        weights_in_checkpoints: bool = False,
        loss_averaging: str = "sequence",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoints = checkpoints
        self.weights_in_checkpoints = weights_in_checkpoints
        self.loss_averaging = loss_averaging
        self._in_checkpoint = False
        if loss_averaging == "sequence":
            # Each micro-batch's loss is a mean over its sequences; the Trainer divides it by the
            # accumulation steps and DeepSpeed averages the data-parallel ranks: a mean over sequences.
            self.loss_is_scaled_for_ga = False

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        pc = getattr(self.accelerator, "parallelism_config", None)
        if self.loss_averaging == "token" or (pc is not None and pc.sp_enabled):
            # token: transformers' own loss over all tokens of all devices; under sequence parallelism
            # (micro batch 1) transformers' Ulysses loss is already the mean over the one sequence.
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if inputs["input_ids"].shape[0] == 1:
            outputs = model(**inputs)  # the model's loss (fused with Liger) over this one sequence's tokens
            loss = outputs.loss
        else:
            labels = inputs["labels"]
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            loss = sequence_mean_loss(outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss

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
        # Every rank fsyncs and checksums its share of the files; rank 0 writes the marker.
        staging = self.checkpoints.staging_path(step)
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        rank = dist.get_rank() if world > 1 else 0
        share = seal_files(staging, rank, world)
        shares: list[Any] = [None] * world
        if world > 1:
            dist.all_gather_object(shares, share)
        else:
            shares = [share]
        if is_main():
            sealed = {k: v for part in shares for k, v in part.items()}
            self.checkpoints.finalize(
                step,
                {"epoch": self.state.epoch, "tokens_seen": int(self.state.num_input_tokens_seen or 0)},
                sealed=sealed,
            )
        barrier()
