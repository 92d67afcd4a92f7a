"""What each rank runs: ``python -m s1slurm.train.worker --run-dir <run dir> --attempt <id>``.

Started by ``torchrun`` (one per node) or directly (one SLURM task per rank) with the usual
``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` variables. Everything else
comes from the run's manifest. Exit code 0 means either "finished" or "checkpointed and stopped
for a requeue"; ``attempts/<attempt>.json`` says which.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.train import data as D
from s1slurm.train.checkpoints import CheckpointManager
from s1slurm.train.curves import reporting
from s1slurm.train.job_plan import TrainPlan
from s1slurm.train.options import parallelism_config
from s1slurm.train.paths import TrainPaths
from s1slurm.train.recipe import total_steps
from s1slurm.train.summary import write_attempt, write_summary


class StopFlag:
    """Set by SIGUSR2 (SLURM's warning before the time limit) or SIGTERM (its preemption notice):
    both mean "checkpoint at the end of this step and exit"."""

    SIGNALS = (signal.SIGUSR2, signal.SIGTERM)

    def __init__(self) -> None:
        self.received_at: float | None = None
        self.name: str | None = None

    def install(self) -> StopFlag:
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)
            signal.siginterrupt(sig, False)  # restart interrupted system calls (sockets, I/O)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        # Only a flag: printing here could re-enter a print the main thread is in.
        if self.received_at is None:
            self.received_at = time.time()
            self.name = signal.Signals(signum).name

    @property
    def is_set(self) -> bool:
        return self.received_at is not None


def _redirect_output(path: Path) -> None:
    """Send this rank's stdout and stderr (Python and C level) to its own log file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


def _say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} s1slurm.train rank {os.environ.get('RANK', '0')}: {msg}", flush=True)


def prepare_dataset(plan: TrainPlan, paths: TrainPaths, tokenizer: Any) -> Any:
    """Tokenize once (rank 0 of the job) into ``tokenized/``; later calls and other ranks load it."""
    import datasets

    if not (paths.tokenized_dir / "dataset_info.json").is_file():
        spec = plan.spec
        records = D.load_records(spec.data)
        rows, stats = D.tokenize_records(
            records,
            tokenizer,
            spec.data.field_map(),
            spec.recipe.block_size,
            spec.data.system_prompt,
            spec.data.format,
        )
        if not rows:
            raise RuntimeError(f"no usable examples in {spec.data.source} (all {stats.examples} dropped)")
        tmp = paths.root / f".tokenized.{os.getpid()}.tmp"
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
        atomic_write_json(paths.dataset_stats, stats.to_dict())
        os.replace(tmp, paths.tokenized_dir)
        _say(
            f"tokenized {stats.used_examples} examples ({stats.truncated_examples} truncated to "
            f"{stats.block_size} tokens, {stats.dropped_examples} dropped)"
        )
    return datasets.load_from_disk(str(paths.tokenized_dir))


def training_arguments(plan: TrainPlan, paths: TrainPaths, deepspeed_config: dict) -> Any:
    """TrainingArguments of the recipe (creating them sets up torch.distributed and ZeRO-3)."""
    import torch
    from transformers import TrainingArguments

    r, m = plan.spec.recipe, plan.spec.memory
    cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(paths.checkpoints_dir / ".staging"),
        per_device_train_batch_size=r.micro_batch_size,
        gradient_accumulation_steps=plan.accumulation,
        num_train_epochs=r.epochs,
        max_steps=r.max_steps or -1,
        learning_rate=r.learning_rate,
        lr_scheduler_type=r.lr_scheduler,
        warmup_steps=r.warmup_fraction,  # transformers 5: a float in [0, 1) is a fraction of all steps
        adam_beta1=r.adam_beta1,
        adam_beta2=r.adam_beta2,
        weight_decay=r.weight_decay,
        optim="adamw_torch",
        max_grad_norm=r.max_grad_norm,
        bf16=r.precision == "bf16",
        gradient_checkpointing=r.gradient_checkpointing,
        use_liger_kernel=m.liger_kernel,  # fused linear cross-entropy: the logits are never materialised
        parallelism_config=parallelism_config(plan.spec),  # DeepSpeed Ulysses when sequence_parallel_size > 1
        average_tokens_across_devices=r.loss_averaging == "token",
        seed=r.seed,
        data_seed=r.seed,
        deepspeed=deepspeed_config,
        use_cpu=not cuda,
        ddp_backend=plan.backend(cuda),
        logging_strategy="steps",
        logging_steps=1,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=plan.spec.checkpoint.every_steps,
        save_total_limit=None,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=r.dataloader_workers,
        remove_unused_columns=False,
        report_to=reporting(plan.spec.report_to, paths),
        disable_tqdm=True,
    )


def save_final_model(trainer: Any, tokenizer: Any, paths: TrainPaths) -> None:
    """Consolidated 16-bit weights + tokenizer + chat template into ``model/`` (staged, renamed)."""
    from s1slurm.train.trainer import barrier, is_main  # pulls in torch and transformers (start-up time)

    staging = paths.root / ".model.staging"
    if is_main() and staging.exists():
        import shutil

        shutil.rmtree(staging)
    barrier()
    trainer.save_model(str(staging))  # collective: gathers the ZeRO-3 partitions on rank 0
    if is_main():
        tokenizer.save_pretrained(str(staging))
        if not (staging / "chat_template.jinja").is_file() and tokenizer.chat_template:
            (staging / "chat_template.jinja").write_text(tokenizer.chat_template)
        if paths.model_dir.exists():
            import shutil

            shutil.rmtree(paths.model_dir)
        os.replace(staging, paths.model_dir)
    barrier()


def newest_verified_checkpoint(checkpoints: Any) -> Path | None:
    """Rank 0 picks the newest checkpoint whose checksums match (a corrupted file makes it broken and
    the one before is used); every rank gets the same answer."""
    import torch.distributed as dist

    from s1slurm.train.trainer import is_main  # pulls in torch and transformers (start-up time)

    choice = [str(checkpoints.latest(checksums=True) or "") if is_main() else None]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.broadcast_object_list(choice, src=0)
    return Path(choice[0]) if choice[0] else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--attempt", required=True)
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    run = RunDir(Path(args.run_dir))
    paths = TrainPaths(run)
    _redirect_output(paths.rank_log(args.attempt, rank))

    flag = StopFlag().install()  # before the slow imports: a USR2 from now on is not lost
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    started = time.time()
    plan = TrainPlan.from_manifest(run)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world != plan.layout.world_size:
        raise RuntimeError(
            f"started with WORLD_SIZE={world}, but the layout has {plan.layout.world_size} ranks"
        )
    _say(f"attempt {args.attempt}: world {world}, accumulation {plan.accumulation}, model {plan.spec.model}")

    # torch, transformers and what needs them load here, not at start-up
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s1slurm.train.trainer import S1Trainer, StepLog, StopOnRequest, barrier, is_main

    ds_config = plan.deepspeed_config()
    targs = training_arguments(plan, paths, ds_config)
    _ = targs.device  # sets up torch.distributed (gloo on CPUs, NCCL on GPUs)
    import deepspeed

    deepspeed.init_distributed(
        dist_backend=plan.backend(torch.cuda.is_available())
    )  # ZeRO-3 Init sees the world
    if is_main():
        atomic_write_json(paths.deepspeed_config, ds_config)
    tokenizer = AutoTokenizer.from_pretrained(plan.spec.model)
    with targs.main_process_first(local=False, desc="tokenize"):
        dataset = prepare_dataset(plan, paths, tokenizer)
    dtype = torch.bfloat16 if plan.spec.recipe.precision == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        plan.spec.model, dtype=dtype, attn_implementation=plan.spec.memory.attn_implementation
    )
    model.config.use_cache = False
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    checkpoints = CheckpointManager(paths.checkpoints_dir, plan.spec.checkpoint.keep_last)
    resume = newest_verified_checkpoint(checkpoints)
    barrier()
    if is_main():
        checkpoints.clean_staging()
    stopper = StopOnRequest(flag, paths.stop_request(args.attempt), plan.spec.checkpoint.every_minutes)
    steps = StepLog(paths.steps_log, args.attempt)
    trainer = S1Trainer(
        model=model,
        args=targs,
        train_dataset=dataset,
        data_collator=partial(D.pad_batch, pad_id=pad_id, multiple=plan.layout.sequence_parallel),
        processing_class=tokenizer,
        callbacks=[stopper, steps],
        checkpoints=checkpoints,
        weights_in_checkpoints=plan.spec.checkpoint.with_weights,
        loss_averaging=plan.spec.recipe.loss_averaging,
    )
    r = plan.spec.recipe
    expected = total_steps(
        len(dataset), r.epochs, plan.layout.data_parallel, r.micro_batch_size, plan.accumulation, r.max_steps
    )
    _say(
        f"{len(dataset)} examples, {expected} optimizer steps in all; "
        + (f"resuming from {resume}" if resume else "starting from the model's weights")
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    if trainer.state.max_steps != expected:
        _say(f"warning: the Trainer planned {trainer.state.max_steps} steps, the recipe {expected}")
    outcome = "stopped" if stopper.stopped_at is not None else "completed"
    if outcome == "completed":
        save_final_model(trainer, tokenizer, paths)
    if is_main():
        write_attempt(
            paths,
            args.attempt,
            plan,
            outcome=outcome,
            started=started,
            resume=resume,
            state=trainer.state,
            steps=steps,
            signal_at=flag.received_at,
            signal_name=flag.name,
            timed_saves=stopper.timed_saves,
        )
        if outcome == "completed":
            write_summary(paths, plan)
    _say(f"attempt {args.attempt} {outcome} at step {trainer.state.global_step}")
    barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
