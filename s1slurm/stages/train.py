"""The ``train`` stage: the s1 SFT recipe as one (multi-node) DeepSpeed ZeRO-3 job.

One shard, one SLURM job of ``nodes`` nodes. Each node's task starts its ranks (``torchrun`` or one
rank per task, see :mod:`s1slurm.train.launcher`) and waits. On USR2 (time limit or preemption)
the ranks checkpoint and exit, and the rank-0 task asks submitit to requeue the job; the next start
resumes from the newest complete checkpoint. See :mod:`s1slurm.train.paths` for the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from s1slurm.config.cluster import Profile
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.shard import Shard
from s1slurm.stages.base import Stage, TaskContext
from s1slurm.train.paths import SHARD, TrainPaths, current_attempt
from s1slurm.train.plan import MANIFEST_TEMPLATE_KEY, TrainPlan
from s1slurm.train.spec import TrainSpec

_started = time.time()  # when this process started training (for telling timeouts from preemptions)


def _absolute(path: str, spec_path: Path) -> str:
    """A local path as an absolute one: relative to the current folder, else to the spec's folder."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    for base in (Path.cwd(), Path(spec_path).resolve().parent):
        if (base / p).exists():
            return str((base / p).resolve())
    return str(p.resolve())


def smollm2_model(name: str, *, file: str) -> Path:
    """``smollm2`` or ``smollm2:<layers>``: the SmolLM2-135M-Instruct folder (cut to ``layers``)."""
    from s1slurm.models.smollm2 import smollm2_folder

    _, _, layers = name.partition(":")
    if name.split(":")[0] != "smollm2" or (layers and not layers.isdigit()):
        raise ConfigError(f"unknown model alias {name!r}", file=file, field="model",
                          expected="smollm2 or smollm2:<number of layers>")
    return smollm2_folder(num_layers=int(layers) if layers else None)


def check_model(spec: TrainSpec, *, file: str) -> None:
    """The model has a usable chat template and accepts ``block_size`` tokens."""
    try:
        from transformers import AutoConfig, AutoTokenizer
    except ImportError:
        from s1slurm.core.errors import MissingDependencyError

        raise MissingDependencyError("transformers", "train") from None
    from s1slurm.train.data import check_template

    if spec.model.startswith((".", "/", "~")) and not Path(spec.model).is_dir():
        raise ConfigError("model folder not found", file=file, field="model",
                          expected="a hub id or a local model folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model)
        config = AutoConfig.from_pretrained(spec.model)
    except Exception as e:  # not found, no network, gated: the same outcome for the user
        raise ConfigError(f"cannot load model {spec.model}: {e}", file=file, field="model") from None
    check_template(tokenizer, model=spec.model, file=file)
    limit = getattr(config, "max_position_embeddings", None)
    if limit and spec.recipe.block_size > limit:
        raise ConfigError(f"block size {spec.recipe.block_size} is above the model's maximum of {limit} "
                          "positions", file=file, field="recipe.block_size", expected=f"at most {limit}")


def parse_time_left(text: str) -> float | None:
    """Seconds in squeue's ``%L`` (``MM:SS``, ``H:MM:SS``, ``D-HH:MM:SS``); None for UNLIMITED etc."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not text or not all(p.isdigit() for p in parts) or (days and not days.isdigit()) or len(parts) > 3:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + int(p)
    return float(seconds + int(days or 0) * 86400)


def seconds_left_in_job() -> float | None:
    """What SLURM says is left of this job's time limit (None when it cannot tell)."""
    job = os.environ.get("SLURM_JOB_ID")
    squeue = shutil.which("squeue")
    if not job or not squeue:
        return None
    try:
        out = subprocess.run([squeue, "-h", "-j", job, "-o", "%L"], capture_output=True, text=True,
                             timeout=15).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_time_left(out)


def classify_signal(profile: Profile, started: float, left: float | None) -> str:
    """``timeout`` when the job is at its time limit, else ``preemption``."""
    if left is None:
        left = profile.time_minutes * 60 - (time.time() - started)
    return "timeout" if left <= profile.signal_delay_s + 60 else "preemption"


class TrainStage(Stage):
    """Supervised fine-tuning; one shard, one (multi-node) job."""

    name = "train"
    spec_model = TrainSpec
    requeueable = True

    def check(self, spec: TrainSpec, profile: Profile, spec_path: Path, *,  # type: ignore[override]
              force: bool = False) -> None:
        from s1slurm.train.data import check_fields, is_local_source, peek_columns

        file = str(spec_path)
        # Local paths become absolute here, so the manifest (and every node) sees the same files.
        from s1slurm.train.deepspeed import resolve_template

        found = Path(_absolute(str(spec.deepspeed), spec_path))
        spec.deepspeed = found if found.is_file() else resolve_template(spec.deepspeed)
        if is_local_source(spec.data.source):
            spec.data.source = _absolute(spec.data.source, spec_path)
        if profile.executor == "local" and profile.nodes > 1:
            raise ConfigError(f"the local executor runs on this one machine, not {profile.nodes} nodes",
                              file=file, field="cluster.nodes", expected="1 (or a SLURM profile)")
        if spec.model.startswith("smollm2"):
            spec.model = str(smollm2_model(spec.model, file=file))
        elif Path(spec.model).expanduser().exists() or spec.model.startswith((".", "/", "~")):
            spec.model = _absolute(spec.model, spec_path)
        if spec.eval_after is not None:
            spec.eval_after = Path(_absolute(str(spec.eval_after), spec_path))
            if not spec.eval_after.is_file():
                raise ConfigError("eval spec not found", file=file, field="eval_after")
        TrainPlan.build(spec, profile, file=file)  # layout, global batch, DeepSpeed template
        columns, _ = peek_columns(spec.data)
        check_fields(columns, spec.data.field_map(), source=spec.data.source, file=file)
        check_model(spec, file=file)

    def manifest_extra(self, spec: TrainSpec) -> dict:
        from s1slurm.train.deepspeed import load_template

        return {MANIFEST_TEMPLATE_KEY: load_template(spec.deepspeed)}

    def plan(self, spec: TrainSpec) -> list[Shard]:
        return [SHARD]

    def run(self, ctx: TaskContext) -> None:
        global _started
        from s1slurm.train import launcher as L

        _started = time.time()
        plan = TrainPlan.from_manifest(ctx.run)
        paths = TrainPaths(ctx.run, ctx.shard)
        tasks = plan.layout.world_size if plan.layout.one_task_per_rank else plan.layout.nodes
        if ctx.dist.world_size != tasks:
            raise StageError(f"this job has {ctx.dist.world_size} task(s) but the layout needs {tasks} "
                             f"({plan.layout.to_dict()})")
        attempt = current_attempt()
        if attempt.startswith("local."):
            attempt = f"{attempt}.{time.time_ns()}"  # several local attempts in one process
        node = L.NodeLauncher(paths, plan, ctx.dist, attempt, ctx.logger)
        node.start()
        rc = node.wait()
        record = _read_attempt(paths, attempt)
        if rc != 0:
            raise StageError(f"training ranks on node {ctx.dist.node_rank} exited with {rc}; "
                             f"rank logs in {paths.rank_log(attempt, 0).parent}\n{node.log_tail()}")
        if record is None or record.get("outcome") != "completed":
            step = record.get("last_step") if record else None
            if not ctx.dist.is_main:  # the rank-0 task requeues the job; SLURM ends this task
                _wait_for_requeue(ctx, plan)
            raise StageError(f"training stopped at step {step} to be requeued, but no requeue followed; "
                             f"'s1slurm resume {ctx.run.path}' continues from the newest checkpoint")
        if ctx.dist.is_main:
            ctx.run.mark_done(ctx.shard, {"steps": record["last_step"], "model": str(paths.model_dir),
                                          "summary": str(paths.summary)})
            ctx.logger.info("training finished at step %s; model in %s", record["last_step"], paths.model_dir)
            if plan.spec.eval_after is not None:
                from s1slurm.train.follow_up import submit_eval_after

                result = submit_eval_after(paths, Path(plan.spec.eval_after), ctx.run.read_manifest())
                if "error" in result:
                    ctx.logger.error("follow-up evaluation not submitted: %s", result["error"])
                else:
                    ctx.logger.info("follow-up evaluation %s (jobs %s, %s)", result["run"],
                                    ", ".join(result["jobs"]) or "local", result["dependency"] or "no dependency")

    def on_requeue_signal(self, ctx: TaskContext) -> bool:
        """USR2 on the rank-0 task: checkpoint (the ranks do), count the requeue, requeue if allowed."""
        from s1slurm.train import launcher as L
        from s1slurm.train.summary import read_requeues, record_requeue

        spec: TrainSpec = ctx.spec  # type: ignore[assignment]
        paths = TrainPaths(ctx.run, ctx.shard)
        if ctx.run.is_done(ctx.shard):
            # Training is over (a follow-up submission may be running): a restart finds the done
            # marker and ends at once, which keeps the job successful for an afterok dependency.
            ctx.logger.info("USR2 after the run was done: requeuing only to end the job cleanly")
            return True
        kind = classify_signal(ctx.profile, _started, seconds_left_in_job())
        node = L.active()
        step = None
        if node is not None:
            record = _read_attempt(paths, node.attempt)
            if record is not None and record.get("outcome") == "completed":
                # The model is saved but the run not yet marked done: the restart resumes from the
                # final checkpoint, saves the model again and marks the run done.
                ctx.logger.info("USR2 right after training completed: requeuing to finish the run")
                return True
            grace = spec.launch.stop_grace_s
            if kind == "timeout":
                grace = min(grace, max(ctx.profile.signal_delay_s - 10, 5))
            ctx.logger.warning("USR2 (%s): asking the ranks to checkpoint and exit (up to %.0fs)", kind, grace)
            node.request_stop()
            if not node.wait_exit(grace):
                ctx.logger.error("ranks did not exit in %.0fs; stopping them (the next start resumes "
                                 "from the newest complete checkpoint)", grace)
                node.terminate()
            record = _read_attempt(paths, node.attempt)
            step = record.get("last_step") if record else None
        allowed = read_requeues(paths)["total"] < spec.max_requeues
        counts = record_requeue(paths, kind, {"attempt": current_attempt(), "checkpoint_step": step,
                                              "requeued": allowed})
        if not allowed:
            ctx.logger.error("not requeuing: %d requeue(s) already (max_requeues %d); "
                             "'s1slurm resume %s' continues from the newest checkpoint",
                             counts["total"] - 1, spec.max_requeues, ctx.run.path)
            return False
        ctx.logger.warning("requeuing after %s at step %s (timeouts %d, preemptions %d)", kind, step,
                           counts["timeouts"], counts["preemptions"])
        return True


def _read_attempt(paths: TrainPaths, attempt: str) -> dict | None:
    import json

    try:
        return json.loads(paths.attempt_record(attempt).read_text())
    except (OSError, ValueError):
        return None


def _wait_for_requeue(ctx: TaskContext, plan: TrainPlan) -> None:
    """A non-zero task whose ranks stopped for a requeue: wait for SLURM to end the job."""
    deadline = time.time() + plan.spec.launch.stop_grace_s + 300
    ctx.logger.info("ranks stopped for a requeue; waiting for SLURM to requeue the job")
    while time.time() < deadline:
        time.sleep(2)
