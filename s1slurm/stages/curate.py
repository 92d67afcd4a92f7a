"""The ``curate`` stage: the s1K pipeline, one submission per step, chained.

How steps map onto submissions (kept simple on purpose):

* ``s1slurm submit curate --config jobs/curate-*.yaml`` submits the **first unfinished step** of the
  spec's ``steps`` (a step is finished when ``<out>/<step>.done`` exists). CPU steps (``collect``,
  ``decontaminate``, ``select``, and ``traces`` with ``from_fields``) are one task; model steps
  (``traces``, ``attempts``, ``domains``) are a job array of ``shards`` tasks over the questions,
  on ``tensor_parallel_size`` GPUs each.
* Every submission is an ordinary run folder (``runs/curate-...``: manifest, logs, status, resume,
  cancel work as for every stage); the data lives in the curation folder ``out:`` shared by them.
* The task that completes a step (the last shard to finish, under a file lock) merges the shards,
  writes the step's dataset and marker, then submits the next step with the same spec -- under
  SLURM with ``--dependency=afterok:<its own job>``, through the one chaining submission of
  :mod:`s1slurm.stages.chain` (as training's ``eval_after`` and a pipeline's steps). With a local
  profile the next step runs at once, in the same process.
  What was submitted is written to ``<out>/<step>/next.json``.
* A rerun of the same spec skips finished steps and, within a model step, finished shards (their
  markers) and finished questions (their records): it resumes where the pipeline stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.config.discovery import profiles_for_run
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard, make_shards
from s1slurm.curate import pipeline
from s1slurm.curate.pipeline import input_step
from s1slurm.curate.sources import check_columns, read_source
from s1slurm.curate.spec import CurateSpec
from s1slurm.curate.store import CurationDir, read_jsonl
from s1slurm.launch.records import shards_complete, waiting_jobs
from s1slurm.launch.task_status import RunStatus
from s1slurm.stages.base import Stage, TaskContext
from s1slurm.stages.chain import follow_up, spec_after
from s1slurm.stages.progress import FileCache, RunProgress, shards_done


def curation(spec: CurateSpec) -> CurationDir:
    return CurationDir(Path(spec.out).expanduser().resolve())


def pending_step(spec: CurateSpec) -> str | None:
    return curation(spec).first_pending(spec.steps)


class CurateStage(Stage[CurateSpec]):
    """One step of the curation pipeline per submission (see the module docstring)."""

    name = "curate"
    spec_model = CurateSpec
    produces = "dataset"
    requeueable = True  # model steps resume per question; CPU steps simply run again

    def check(
        self,
        spec: CurateSpec,
        profile: Profile,
        spec_path: Path,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> None:
        step = pending_step(spec)
        if step is None:
            raise ConfigError(
                f"every step of this curation is finished (markers in {curation(spec).path}); "
                "delete a step's marker <out>/<step>.done to run it again",
                file=str(spec_path),
                field="out",
            )

        if step == "collect":  # a missing file or a mapping to a missing column: refused before submission
            for i, src in enumerate(spec.sources):
                if src.path is not None:
                    _, columns = read_source(src, i, str(spec_path))
                    check_columns(src, i, columns, str(spec_path))
        if step == "decontaminate" or (step == "collect" and "decontaminate" in spec.steps):
            for i, b in enumerate(spec.decontaminate.against):
                if b.path is not None and not Path(b.path).expanduser().is_file():
                    raise ConfigError(
                        f"benchmark {b.effective_label!r}: file {str(b.path)!r} not found",
                        file=str(spec_path),
                        field=f"decontaminate.against.{i}.path",
                        expected="an existing JSON Lines file",
                    )
        if "domains" in spec.steps and not spec.domains.use_source and not spec.domains.model:
            raise ConfigError(
                "domains need a classifier model when use_source is false",
                file=str(spec_path),
                field="domains.model",
            )
        if step == "select" and spec.select.strategy != "full":
            cur = curation(spec)

            try:
                rows = len(read_jsonl(cur.export_path(input_step(cur, "select"))))
            except Exception:  # no input yet: the task reports it
                rows = None
            if rows is not None and spec.select.n > rows:
                raise ConfigError(
                    f"cannot select {spec.select.n} questions from {rows} rows",
                    file=str(spec_path),
                    field="select.n",
                    expected=f"at most {rows}",
                )
        self.resources(spec, profile)

    def resources(self, spec: CurateSpec, profile: Profile) -> Profile:
        """One process per task on one node; model steps get ``tensor_parallel_size`` GPUs (and a
        share of the node's CPUs and memory), CPU steps none; a step's own ``cluster:`` wins."""
        step = pending_step(spec) or spec.steps[-1]
        fixed = set(spec.cluster)
        updates: dict[str, Any] = {k: 1 for k in ("nodes", "tasks_per_node") if k not in fixed}
        if spec.is_model_step(step):
            cfg = spec.model_step(step)
            gpus, tp = profile.gpus_per_node, cfg.tensor_parallel_size
            if gpus and "gpus_per_node" not in fixed:
                updates["gpus_per_node"] = min(tp, gpus)
                if profile.cpus_per_task and "cpus_per_task" not in fixed:
                    updates["cpus_per_task"] = max(1, profile.cpus_per_task * tp // gpus)
                if profile.mem_gb and "mem_gb" not in fixed:
                    updates["mem_gb"] = round(profile.mem_gb * tp / gpus, 1)
            updates.update(cfg.cluster)
        elif "gpus_per_node" not in fixed:
            updates["gpus_per_node"] = 0
        if (
            updates.get("gpus_per_node", profile.gpus_per_node) < (profile.gpus_per_node or 0)
            and profile.extra_sbatch.get("exclusive")
            and "extra_sbatch" not in fixed | set(updates)
        ):
            updates["extra_sbatch"] = {k: v for k, v in profile.extra_sbatch.items() if k != "exclusive"}
        return profile.merged(updates, source=f"curate step {step}")

    def plan_text(self, spec: CurateSpec, profile: Profile, width: int | None = None) -> str | None:
        cur = curation(spec)
        step = pending_step(spec)
        done = [s for s in spec.steps if cur.is_done(s)]
        if step is None:
            return f"curation {cur.path}: every step is finished"
        kind = f"a job array of {spec.shards_for(step)} task(s)" if spec.is_model_step(step) else "one task"
        names = [str(s) for s in spec.steps]
        later = names[names.index(step) + 1 :]
        return (
            f"curation {cur.path}\n  finished: {', '.join(done) or 'none'}\n  this submission: step "
            f"{step!r}, {kind}\n  then, each submitted by the step before it: {', '.join(later) or 'nothing'}"
        )

    def plan(self, spec: CurateSpec) -> list[Shard]:
        step = pending_step(spec)
        if step is None:
            return []
        return make_shards(step, spec.shards_for(step))

    def manifest_extra(self, spec: CurateSpec) -> dict:
        return {"curate": {"out": str(curation(spec).path), "step": pending_step(spec), "steps": spec.steps}}

    def output(self, run: RunDir) -> Path:
        """The dataset the curation's last step exported (s1K columns): what a training takes."""
        return selected_dataset(run)

    def unfinished(self, run: RunDir) -> str | None:
        """A curate run is one step of its curation; the later steps run in runs of their own."""
        step = pending_step_of(run)
        return None if step is None else f"curation step '{step}' (see its runs in runs_dir)"

    def progress(self, status: RunStatus, files: FileCache) -> RunProgress:
        """Shards of this run, and the rows in and out of each step of the whole curation."""
        progress = shards_done(status.tasks)
        progress.note = curation_summary(status.run)
        return progress

    def related_jobs(self, run: RunDir, task: int | None = None) -> list[str]:
        """The unfinished jobs of this curation's chain: this run's and those of the runs its
        steps submitted after it."""
        return chain_jobs(run)

    def on_requeue_signal(self, ctx: TaskContext[CurateSpec]) -> bool:
        return ctx.spec.is_model_step(ctx.shard.group)

    def run(self, ctx: TaskContext[CurateSpec]) -> None:

        if not ctx.dist.is_main:
            return
        spec = ctx.spec
        cur = curation(spec)
        step = ctx.shard.group
        spec_file = str(ctx.run.spec_path)
        if spec.is_model_step(step):
            info = pipeline.run_model_shard(cur, spec, step, ctx.shard, ctx.logger)
        else:
            with cur.lock(step):
                info = (
                    json.loads(cur.step_marker(step).read_text())
                    if cur.is_done(step)
                    else pipeline.run_cpu_step(cur, spec, step, spec_file)
                )
        for name in ("contamination.txt", "selection.txt"):  # the rich tables, in the task's log too
            table = cur.report_path(step, name)
            if step in ("decontaminate", "select") and table.is_file():
                ctx.logger.info("%s\n%s", name, table.read_text())
        with cur.lock(step):
            done = pipeline.merge_model_step(cur, spec, step) if spec.is_model_step(step) else info
        # marked done only after the merge: a task shown DONE has left the step's dataset written
        # whenever it was the last shard (a merge that fails leaves the task failed, and resume retries it)
        ctx.run.mark_done(ctx.shard, {"step": step, **{k: v for k, v in info.items() if k != "shard"}})
        ctx.logger.info("%s: shard %s done", step, ctx.shard.id)
        if done is None:
            return  # other shards are still running; the last one chains
        with cur.lock(step):
            next_file = cur.step_dir(step) / "next.json"
            if next_file.exists():
                return
            following = [s for s in spec.steps if not cur.is_done(s)]
            if not following:
                atomic_write_json(next_file, {"next": None, "note": "the curation is complete"})
                return
            record = submit_next(ctx, spec, following[0])
            atomic_write_json(next_file, record)
        if record.get("error"):
            ctx.logger.error("could not submit step %s: %s", following[0], record["error"])


def next_spec(spec: CurateSpec, job_id: str | None) -> dict[str, Any]:
    """The spec of the next submission: the same, waiting with ``afterok`` for ``job_id`` under
    SLURM (a dependency left by an earlier link of the chain is replaced)."""
    data = spec.model_dump(mode="json")
    data["out"] = str(curation(spec).path)  # the chain may run from another folder than the user's
    data["runs_dir"] = str(Path(spec.runs_dir).expanduser().resolve())
    return spec_after(data, [job_id] if job_id else [])


def submit_next(ctx: TaskContext[CurateSpec], spec: CurateSpec, step: str) -> dict[str, Any]:
    """Submit the next step (a new run folder); returns what happened (never raises)."""
    manifest = ctx.run.read_manifest()
    job_id = os.environ.get("SLURM_JOB_ID") if ctx.profile.executor == "slurm" else None
    spec_file = curation(spec).step_dir(step) / f"spec-{ctx.run.name}.yaml"
    found = profiles_for_run(manifest)
    cluster_args = ["--cluster", str(found.source.path)] if found.source.path is not None else []
    command = [
        "s1slurm",
        *cluster_args,
        "--profile",
        str(manifest.get("profile_name")),
        "submit",
        "curate",
        "--config",
        str(spec_file),
    ]
    record = follow_up(
        CurateStage(),
        next_spec(spec, job_id),
        spec_file,
        manifest,
        after=[job_id] if job_id else [],
        command_line=command,
    )
    return {"next": step, **record, "after_run": str(ctx.run.path)}


def curation_of(run: RunDir) -> tuple[CurationDir, list[str]]:
    """The curation folder and the steps of the curation a curate run belongs to."""
    info = run.read_manifest().get("curate") or {}
    if not info.get("out") or not info.get("steps"):
        raise StageError(f"{run.manifest_path} records no curation (no 'curate' entry)")
    return CurationDir(Path(info["out"])), list(info["steps"])


def pending_step_of(run: RunDir) -> str | None:
    """The first unfinished step of the curation ``run`` belongs to (None: it is complete)."""
    cur, steps = curation_of(run)
    return cur.first_pending(steps)


def selected_dataset(run: RunDir) -> Path:
    """The JSON Lines export of the curation's last step (s1K columns), the training data."""
    cur, steps = curation_of(run)
    path = cur.export_path(steps[-1])
    if not path.is_file():
        raise StageError(f"the curation's last step '{steps[-1]}' wrote no dataset ({path} is missing)")
    return path


def curation_summary(run: RunDir) -> str:
    """``collect 654 -> 651, decontaminate 651 -> 648, traces ...``: rows in and out of each finished
    step of the curation ``run`` belongs to, up to the step under way."""
    cur, steps = curation_of(run)
    parts = []
    for step in steps:
        try:
            marker = json.loads(cur.step_marker(step).read_text())
        except (OSError, ValueError):
            parts.append(f"{step} ...")
            break
        parts.append(f"{step} {marker.get('in', '?')} -> {marker.get('out', '?')}")
    return ", ".join(parts)


def chain_jobs(run: RunDir) -> list[str]:
    """Jobs of the curation's runs (``run`` and those its chain submitted) not finished yet."""
    cur, steps = curation_of(run)
    runs = [run]
    for step in steps:
        try:
            record = json.loads((cur.step_dir(step) / "next.json").read_text())
        except (OSError, ValueError):
            continue
        if record.get("run"):
            runs.append(RunDir(Path(record["run"])))
    jobs: list[str] = []
    for r in runs:
        if r.manifest_path.is_file() and not shards_complete(r):
            jobs += waiting_jobs(r)
    return jobs
