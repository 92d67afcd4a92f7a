"""The ``train`` stage: the s1 SFT recipe as one (multi-node) DeepSpeed ZeRO-3 job.

One shard, one SLURM job of ``nodes`` nodes. Each node's task starts its ranks (``torchrun`` or one
rank per task, see :mod:`s1slurm.train.supervisor`) and waits. On USR2 (time limit, or preemption with
``send_user_signal``) or SIGTERM (preemption) the ranks checkpoint and exit within the warning's time
minus a stated margin, and the rank-0 task asks SLURM to requeue the job (:mod:`s1slurm.train.requeue`);
the next start resumes from the newest complete checkpoint. See :mod:`s1slurm.train.paths` for the files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.config.loading import read_yaml
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.dataload import looks_local
from s1slurm.core.errors import ConfigError, MissingDependencyError, StageError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.task_status import RunStatus
from s1slurm.models import hub
from s1slurm.models.resolve import is_hub_id, is_smollm2, smollm2_model
from s1slurm.stages import get_stage
from s1slurm.stages.base import Stage, TaskContext
from s1slurm.stages.chain import follow_up
from s1slurm.stages.progress import FileCache, RunProgress
from s1slurm.stages.train_progress import training_progress
from s1slurm.train import data as train_data
from s1slurm.train import requeue
from s1slurm.train import supervisor as L
from s1slurm.train.cost_estimate import render
from s1slurm.train.deepspeed import load_template, resolve_template
from s1slurm.train.estimate_inputs import estimate_for
from s1slurm.train.job_plan import MANIFEST_TEMPLATE_KEY, TrainPlan
from s1slurm.train.options import check_memory_options
from s1slurm.train.paths import SHARD, TrainPaths, current_attempt
from s1slurm.train.spec import TrainSpec
from s1slurm.train.summary import (
    read_requeues,
    record_not_requeued,
    record_requeue,
    requeues_of_job,
    start_new_count,
)


def _absolute(path: str, spec_path: Path) -> str:
    """A local path as an absolute one: relative to the current folder, else to the spec's folder."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    for base in (Path.cwd(), Path(spec_path).resolve().parent):
        if (base / p).exists():
            return str((base / p).resolve())
    return str(p.resolve())


def check_model(spec: TrainSpec, *, file: str) -> None:
    """The model has a usable chat template and accepts ``block_size`` tokens."""
    try:
        from transformers import AutoConfig, AutoTokenizer
    except ImportError:
        raise MissingDependencyError("transformers", "train") from None

    if spec.model.startswith((".", "/", "~")) and not Path(spec.model).is_dir():
        raise ConfigError(
            "model folder not found", file=file, field="model", expected="a hub id or a local model folder"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model)
        config = AutoConfig.from_pretrained(spec.model)
    except Exception as e:  # not found, no network, gated: the same outcome for the user
        raise ConfigError(f"cannot load model {spec.model}: {e}", file=file, field="model") from None
    train_data.check_template(tokenizer, model=spec.model, file=file)
    limit = getattr(config, "max_position_embeddings", None)
    if limit and spec.recipe.block_size > limit:
        raise ConfigError(
            f"block size {spec.recipe.block_size} is above the model's maximum of {limit} positions",
            file=file,
            field="recipe.block_size",
            expected=f"at most {limit}",
        )


class TrainStage(Stage[TrainSpec]):
    """Supervised fine-tuning; one shard, one (multi-node) job."""

    name = "train"
    spec_model = TrainSpec
    requeueable = True
    produces, consumes = "model", "dataset"

    def check(
        self,
        spec: TrainSpec,
        profile: Profile,
        spec_path: Path,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> None:
        """Paths, layout, memory options and the plan; hub checks (skipped offline by dry runs only);
        a hub model's weights downloaded into the profile's ``weights_cache`` (real submissions)."""
        file = str(spec_path)
        self.notes: list[str] = []
        # Local paths become absolute here, so the manifest (and every node) sees the same files.
        found = Path(_absolute(str(spec.deepspeed), spec_path))
        spec.deepspeed = found if found.is_file() else resolve_template(spec.deepspeed)
        if looks_local(spec.data.source):
            spec.data.source = _absolute(spec.data.source, spec_path)
        if profile.executor == "local" and profile.nodes > 1:
            raise ConfigError(
                f"the local executor runs on this one machine, not {profile.nodes} nodes",
                file=file,
                field="cluster.nodes",
                expected="1 (or a SLURM profile)",
            )
        if is_smollm2(spec.model):
            spec.model = str(smollm2_model(spec.model, file=file))
        elif Path(spec.model).expanduser().exists() or spec.model.startswith((".", "/", "~")):
            spec.model = _absolute(spec.model, spec_path)
        if spec.eval_after is not None:
            spec.eval_after = Path(_absolute(str(spec.eval_after), spec_path))
            if not spec.eval_after.is_file():
                raise ConfigError("eval spec not found", file=file, field="eval_after")
        plan = TrainPlan.build(spec, profile, file=file)  # layout, global batch, DeepSpeed template
        plan.deepspeed_config()  # a template that contradicts the spec's offload is refused here
        offline = (
            hub.offline_reason() if (is_hub_id(spec.model) or not looks_local(spec.data.source)) else None
        )
        estimate = self._estimate(spec, profile, plan, file=file, offline=offline)
        self.notes += check_memory_options(
            spec, plan.layout, estimate.shape if estimate else None, file=file, dry_run=dry_run
        )
        if estimate is not None:
            self._refuse_if_over(estimate, spec, profile, file=file, force=force)
        if offline is not None and dry_run:
            what = [
                w
                for w, needed in (
                    ("the dataset's columns", not looks_local(spec.data.source)),
                    ("the model's chat template and positions", is_hub_id(spec.model)),
                )
                if needed
            ]
            self.notes.append(
                f"skipped (hub not reachable: {offline}): checks of {' and '.join(what)}; "
                "a real submission runs them"
            )
            if not looks_local(spec.data.source):
                return
        elif offline is not None:
            raise ConfigError(
                f"the hub is needed to check this spec but cannot be reached: {offline}",
                file=file,
                field="model" if is_hub_id(spec.model) else "data.source",
                expected="a machine that reaches the hub, local files, or --dry-run / plan to "
                "skip hub checks",
            )
        columns, _ = train_data.peek_columns(spec.data)
        train_data.check_fields(columns, spec.data.field_map(), source=spec.data.source, file=file)
        if is_hub_id(spec.model) and profile.weights_cache and not dry_run:
            # Every rank loads this folder with HF_HUB_OFFLINE=1: one download, here, with a progress bar.
            try:
                spec.model = str(hub.download_weights(spec.model, profile.weights_cache))
                if not looks_local(spec.data.source):  # the ranks are offline: the data comes along
                    spec.data.source = str(hub.download_dataset(spec.data.source, profile.weights_cache))
            except ConfigError as e:
                raise e.in_file(file) from None
        elif is_hub_id(spec.model) and profile.weights_cache:
            self.notes.append(
                f"weights: a real submission downloads {spec.model} into "
                f"{hub.snapshot_folder(profile.weights_cache, spec.model)}"
            )
        if offline is None or not is_hub_id(spec.model):
            check_model(spec, file=file)

    def _estimate(
        self, spec: TrainSpec, profile: Profile, plan: TrainPlan, *, file: str, offline: str | None
    ):
        """The planner's estimate (None when the model's shape cannot be known)."""
        est, note = estimate_for(spec, profile, plan, offline=offline, file=file)
        if note:
            self.notes.append(note)
        self.estimate = est
        return est

    def _refuse_if_over(self, estimate, spec: TrainSpec, profile: Profile, *, file: str, force: bool) -> None:
        """Exit 2, with the breakdown, for a peak above the GPU or a warning too short (unless --force);
        a note when the partition's preemption GraceTime is shorter than a step and a checkpoint."""
        grace = (
            requeue.partition_grace_s(profile.partition)
            if profile.executor == "slurm" and profile.partition
            else None
        )
        if grace and grace < estimate.margin_s:  # GraceTime=0: no grace configured, nothing to compare
            self.notes.append(
                f"warning: partition {profile.partition}'s GraceTime {grace:g} s is shorter than one step + a "
                f"checkpoint + the stop margin ({estimate.margin_s:.0f} s): a preemption (SIGTERM) would kill the "
                "checkpoint and the job would restart from the previous one; checkpoint more often "
                "(checkpoint.every_minutes) or ask your admins for a longer GraceTime"
            )

        problems = []
        if profile.gpu_memory_gb and estimate.peak_gb > profile.gpu_memory_gb:
            problems.append(
                (
                    f"the planned peak of {estimate.peak_gb:.1f} GB per GPU exceeds the profile's "
                    f"gpu_memory_gb {profile.gpu_memory_gb:g}",
                    "memory",
                    "memory options (liger_kernel, sequence_parallel_size, offload) or a shorter block",
                )
            )
        if profile.executor == "slurm" and profile.signal_delay_s < estimate.margin_s:
            problems.append(
                (
                    f"signal_delay_s {profile.signal_delay_s} s cannot cover one step + a checkpoint + "
                    f"the stop margin ({estimate.margin_s:.0f} s)",
                    "cluster.signal_delay_s",
                    f"at least {estimate.margin_s:.0f}",
                )
            )
        if not problems:
            return
        if force:
            self.notes.extend(f"--force: submitted although {p[0]}" for p in problems)
            return
        text, field, expected = problems[0]
        breakdown = render(
            estimate, gpu_memory_gb=profile.gpu_memory_gb, signal_delay_s=profile.signal_delay_s
        )
        raise ConfigError(
            f"{text}; --force submits anyway\n{breakdown}\n", file=file, field=field, expected=expected
        )

    def plan_text(self, spec: TrainSpec, profile: Profile, width: int | None = None) -> str | None:
        """The planner's breakdown for ``submit --dry-run`` (after check), with the checks skipped
        (``width``: laid out for a terminal that wide, see :func:`s1slurm.train.cost_estimate.render`)."""
        est, note = getattr(self, "estimate", None), None
        if est is None:
            est, note = estimate_for(
                spec, profile, TrainPlan.build(spec, profile), offline=hub.offline_reason(), file=None
            )
        notes = list(dict.fromkeys([*getattr(self, "notes", []), *([note] if note else [])]))
        text = (
            render(
                est,
                gpu_memory_gb=profile.gpu_memory_gb,
                signal_delay_s=profile.signal_delay_s if profile.executor == "slurm" else None,
                width=width,
            )
            if est is not None
            else "Training plan: not available (the model's shape is unknown)"
        )
        return text + "".join(f"\n  note: {n}" for n in notes)

    def manifest_extra(self, spec: TrainSpec) -> dict:
        return {MANIFEST_TEMPLATE_KEY: load_template(spec.deepspeed)}

    def plan(self, spec: TrainSpec) -> list[Shard]:
        return [SHARD]

    def take_input(self, data: dict[str, Any], previous_output: str) -> dict[str, Any]:
        """The step before (a curation) hands over the dataset to train on: ``data.source``."""
        return {**data, "data": {**dict(data.get("data") or {}), "source": previous_output}}

    def output(self, run: RunDir) -> Path:
        """The trained model folder."""
        return TrainPaths(run).model_dir

    def progress(self, status: RunStatus, files: FileCache) -> RunProgress:
        """Optimizer steps logged / planned, with the pace of the ranks' step records."""
        return training_progress(status, files)

    def run(self, ctx: TaskContext[TrainSpec]) -> None:
        self._started = time.time()
        self._stopping: str | None = None  # set once a stop signal is being handled
        self._requeued = False
        plan = TrainPlan.from_manifest(ctx.run)
        paths = TrainPaths(ctx.run, ctx.shard)
        tasks = plan.layout.world_size if plan.layout.one_task_per_rank else plan.layout.nodes
        if ctx.dist.world_size != tasks:
            raise StageError(
                f"this job has {ctx.dist.world_size} task(s) but the layout has {tasks} "
                f"({plan.layout.to_dict()})"
            )
        attempt = current_attempt()
        if attempt.startswith("local."):
            attempt = f"{attempt}.{time.time_ns()}"  # several local attempts in one process
        job = os.environ.get("SLURM_JOB_ID")
        if job:
            self._install_signal_handlers(ctx)
            if ctx.dist.is_main:
                note = start_new_count(paths, job, ctx.spec.max_requeues)
                if note:
                    ctx.logger.warning(
                        "job %s is a new submission of this run (s1slurm resume): its requeue count "
                        "starts again at 0 (job %s used %d of max_requeues %d)",
                        job,
                        note["previous_job_id"],
                        note["previous_requeues"],
                        ctx.spec.max_requeues,
                    )
        node = L.TorchrunSupervisor(paths, plan, ctx.dist, attempt, ctx.logger)
        self._node = node
        node.start()
        rc = node.wait()
        record = _read_attempt(paths, attempt)
        if self._requeued:
            _wait_for_requeue(ctx, "SLURM accepted the requeue")
        if rc != 0:
            raise StageError(
                f"training ranks on node {ctx.dist.node_rank} exited with {rc}; "
                f"rank logs in {paths.rank_log(attempt, 0).parent}\n{node.log_tail()}"
            )
        if record is None or record.get("outcome") != "completed":
            step = record.get("last_step") if record else None
            if not ctx.dist.is_main and job:  # the rank-0 task requeues the job; SLURM ends this task
                _wait_for_requeue(ctx, "the ranks stopped for a requeue")
            raise StageError(
                f"training stopped at step {step} and was not requeued; "
                f"'s1slurm resume {ctx.run.path}' continues from the newest checkpoint"
            )
        if ctx.dist.is_main:
            ctx.run.mark_done(
                ctx.shard,
                {"steps": record["last_step"], "model": str(paths.model_dir), "summary": str(paths.summary)},
            )
            ctx.logger.info("training finished at step %s; model in %s", record["last_step"], paths.model_dir)
            if plan.spec.eval_after is not None:
                result = submit_eval_after(paths, Path(plan.spec.eval_after), ctx.run.read_manifest())
                if "error" in result:
                    ctx.logger.error("follow-up evaluation not submitted: %s", result["error"])
                else:
                    ctx.logger.info(
                        "follow-up evaluation %s (jobs %s, %s)",
                        result["run"],
                        ", ".join(result["jobs"]) or "local",
                        result["dependency"] or "no dependency",
                    )

    def _install_signal_handlers(self, ctx: TaskContext[TrainSpec]) -> None:
        """USR2 and SIGTERM (preemption) both mean: checkpoint, then requeue (replaces submitit's
        handlers, which bypass SIGTERM and record nothing of what SLURM answered)."""
        import signal

        def handle(signum: int, frame: object) -> None:
            name = signal.Signals(signum).name
            if self._stopping is not None:
                ctx.logger.info("%s while already stopping for %s: ignored", name, self._stopping)
                return
            self._stopping = name
            if not ctx.dist.is_main:
                ctx.logger.info("%s: the ranks checkpoint; the rank-0 task asks SLURM to requeue", name)
                return
            self.stop_and_requeue(ctx, name)

        for sig in (signal.SIGUSR2, signal.SIGTERM):
            signal.signal(sig, handle)

    def stop_and_requeue(self, ctx: TaskContext[TrainSpec], signal_name: str) -> bool:
        """Rank-0 task: stop the ranks at a checkpoint, then ask SLURM to requeue (recorded once accepted)."""
        decision = self._stop_ranks(ctx, signal_name)
        paths = TrainPaths(ctx.run, ctx.shard)
        if decision["requeue"] is False:
            record_not_requeued(paths, decision["kind"], decision["event"])
            return False
        job = os.environ.get("SLURM_JOB_ID", "")
        accepted, words = requeue.requeue_job(job)
        if not accepted:
            ctx.logger.error(
                "SLURM refused to requeue job %s: %s; 's1slurm resume %s' continues from the newest "
                "checkpoint",
                job,
                words,
                ctx.run.path,
            )
            record_not_requeued(paths, decision["kind"], {**decision["event"], "refused": words})
            return False
        self._requeued = True
        if decision["count"]:
            counts = record_requeue(paths, decision["kind"], decision["event"])
            ctx.logger.warning(
                "requeued after %s at step %s (timeouts %d, preemptions %d)",
                decision["kind"],
                decision["event"]["checkpoint_step"],
                counts["timeouts"],
                counts["preemptions"],
            )
        return True

    def _stop_ranks(self, ctx: TaskContext[TrainSpec], signal_name: str) -> dict:
        """Ask the ranks to checkpoint and exit within the derived grace; decide whether to requeue."""
        spec = ctx.spec
        paths = TrainPaths(ctx.run, ctx.shard)
        job = os.environ.get("SLURM_JOB_ID")
        node = L.active()
        record = _read_attempt(paths, node.attempt) if node is not None else None
        completed = record is not None and record.get("outcome") == "completed"
        # The ranks are asked to stop first: the scheduler queries below (squeue, scontrol: seconds each
        # on a busy controller) would otherwise eat into a preemption's grace before anyone checkpoints.
        if node is not None and not completed and not ctx.run.is_done(ctx.shard):
            node.request_stop()
        kind = requeue.classify_signal(
            ctx.profile, getattr(self, "_started", time.time()), requeue.seconds_left_in_job()
        )
        event: dict[str, Any] = {
            "attempt": current_attempt(),
            "job_id": job,
            "signal": signal_name,
            "checkpoint_step": None,
        }
        if ctx.run.is_done(ctx.shard):
            # Training is over (a follow-up submission may be running): a restart finds the done
            # marker and ends at once, which keeps the job successful for an afterok dependency.
            ctx.logger.info("%s after the run was done: requeuing only to end the job cleanly", signal_name)
            return {"requeue": True, "count": False, "kind": kind, "event": event}
        if node is not None:
            if completed:
                ctx.logger.info("%s right after training completed: requeuing to finish the run", signal_name)
                return {"requeue": True, "count": False, "kind": kind, "event": event}
            grace, why = requeue.stop_grace_s(
                signal_name,
                kind,
                ctx.profile,
                spec.launch.stop_margin_s,
                requeue.partition_grace_s() if signal_name == "SIGTERM" else None,
            )
            ctx.logger.warning(
                "%s (%s): asked the ranks to checkpoint and exit within %.0fs (%s)",
                signal_name,
                kind,
                grace,
                why,
            )
            if not node.wait_exit(grace):
                ctx.logger.error(
                    "ranks did not exit in %.0fs; stopping them (the next start resumes from the "
                    "newest complete checkpoint)",
                    grace,
                )
                node.terminate()
            record = _read_attempt(paths, node.attempt)
            event.update(checkpoint_step=record.get("last_step") if record else None, grace_s=grace)
        used = requeues_of_job(read_requeues(paths), job)
        if used >= spec.max_requeues:
            ctx.logger.error(
                "not requeuing: job %s was requeued %d time(s) already (max_requeues %d); "
                "'s1slurm resume %s' continues from the newest checkpoint with a new count",
                job,
                used,
                spec.max_requeues,
                ctx.run.path,
            )
            return {
                "requeue": False,
                "count": False,
                "kind": kind,
                "event": {**event, "reason": "max_requeues"},
            }
        return {"requeue": True, "count": True, "kind": kind, "event": event}

    def on_requeue_signal(self, ctx: TaskContext[TrainSpec]) -> bool:
        """submitit's USR2 path, reached only before :meth:`run` installed its own handlers: there are
        no ranks yet, so requeue when allowed (submitit asks SLURM; nothing is counted)."""
        decision = self._stop_ranks(ctx, "SIGUSR2")
        return bool(decision["requeue"])


def submit_eval_after(paths: TrainPaths, eval_spec: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Submit the evaluation of the trained model named by ``eval_after`` (rank-0 task, once the
    model folder is complete): the eval spec with ``model`` set to the new folder, under SLURM
    waiting with ``afterok`` for this job, so that it starts once training exited successfully and
    its nodes are free. Returns (and writes to ``eval_after.json``) what happened; never raises."""
    job_id = os.environ.get("SLURM_JOB_ID")
    data = {**read_yaml(eval_spec), "model": str(paths.model_dir)}
    spec_file = paths.root / "eval_after.yaml"
    record = {
        "eval_spec": str(eval_spec),
        "submitted_spec": str(spec_file),
        **follow_up(
            get_stage("eval"),
            data,
            spec_file,
            manifest,
            after=[job_id] if job_id else [],
            command_line=["s1slurm", "eval_after", str(spec_file)],
        ),
    }
    atomic_write_json(paths.root / "eval_after.json", record)
    return record


def _read_attempt(paths: TrainPaths, attempt: str) -> dict | None:
    import json

    try:
        return json.loads(paths.attempt_record(attempt).read_text())
    except (OSError, ValueError):
        return None


def _wait_for_requeue(ctx: TaskContext[TrainSpec], why: str, timeout_s: float = 600) -> None:
    """Wait for SLURM to end this task of a job that is being requeued (it sends SIGTERM, then SIGKILL)."""
    ctx.logger.info("%s; waiting for SLURM to end this start of the job", why)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        time.sleep(2)
