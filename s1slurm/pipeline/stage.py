"""The ``pipeline`` stage: steps (curate -> train -> eval -> report) chained so that each one starts
after the previous one succeeded and takes its output as input. See :mod:`s1slurm.pipeline.chain`.

Each pipeline task is a small CPU job (a *link*) that starts one step; the report step is done by
its link itself. With a local profile the links, and so the steps, run one after the other here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.config.loading import load_model, read_yaml
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.launch.base import Launcher, PlannedTask, Submission
from s1slurm.launch.task_status import RunStatus
from s1slurm.pipeline.chain import run_step
from s1slurm.pipeline.control import pipeline_job_ids, resume_pipeline
from s1slurm.pipeline.links import make_launcher
from s1slurm.pipeline.spec import REPORT, PipelineSpec
from s1slurm.pipeline.status import pipeline_steps, step_runs
from s1slurm.report.reference import get_reference
from s1slurm.stages import get_stage
from s1slurm.stages.base import Stage, TaskContext

# What a link job asks for unless the pipeline spec's ``cluster:`` says otherwise: it only submits
# jobs (and builds the report), so one CPU, a little memory, no GPU, never a whole node.
_LINK_RESOURCES = {
    "nodes": 1,
    "tasks_per_node": 1,
    "gpus_per_node": 0,
    "cpus_per_task": 1,
    "mem_gb": 4,
    "time": "01:00:00",
    "array_parallelism": None,
    "container": None,
}
# What stands for the output of the step before when a step's spec is checked before anything ran.
_PREVIOUS_OUTPUT = "<the output of the step before>"


class PipelineStage(Stage[PipelineSpec]):
    name = "pipeline"
    spec_model = PipelineSpec

    def check(
        self,
        spec: PipelineSpec,
        profile: Profile,
        spec_path: Path,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> None:
        """Every step's stage exists and its spec file is there and well formed; paths made absolute."""
        base = Path(spec_path).resolve().parent
        for i, step in enumerate(spec.steps):
            if step.stage == self.name:
                raise ConfigError(
                    "a pipeline cannot contain a pipeline",
                    file=str(spec_path),
                    field=f"steps.{i}.stage",
                    expected="curate, train, eval, report or probe",
                )
            if step.stage == REPORT:
                try:  # a typo here would only show once the evaluation has run
                    get_reference(step.reference)
                except ConfigError as e:
                    raise ConfigError(
                        e.detail, file=str(spec_path), field=f"steps.{i}.reference", expected=e.expected
                    ) from None
                continue
            try:
                stage = get_stage(step.stage)
            except ConfigError as e:
                raise ConfigError(
                    e.detail,
                    file=str(spec_path),
                    field=f"steps.{i}.stage",
                    expected="curate, train, eval, report or probe",
                ) from None
            assert step.config is not None
            found = next(
                (p for p in (Path(step.config).expanduser(), base / step.config) if p.is_file()), None
            )
            if found is None:
                raise ConfigError(
                    f"spec file {step.config} not found (relative to {Path.cwd()} or {base})",
                    file=str(spec_path),
                    field=f"steps.{i}.config",
                    expected="an existing job spec",
                )
            step.config = found.resolve()
            data = read_yaml(step.config)
            declared = data.setdefault("stage", step.stage)
            if declared != step.stage:
                raise ConfigError(
                    f"this spec is for stage '{declared}', not '{step.stage}'",
                    file=str(step.config),
                    field="stage",
                    expected=f"'{step.stage}'",
                )
            before = spec.steps[i - 1].stage if i > 0 else None
            if before is not None and before != REPORT and stage.takes_from(get_stage(before)):
                data = stage.take_input(data, _PREVIOUS_OUTPUT)
            load_model(step.config, stage.spec_model, data)

    def resources(self, spec: PipelineSpec, profile: Profile) -> Profile:
        updates = {k: v for k, v in _LINK_RESOURCES.items() if k not in spec.cluster}
        if "extra_sbatch" not in spec.cluster:
            updates["extra_sbatch"] = {k: v for k, v in profile.extra_sbatch.items() if k != "exclusive"}
        return profile.merged(updates, source="pipeline link resources")

    def manifest_extra(self, spec: PipelineSpec) -> dict:
        return {"cwd": os.getcwd(), "pipeline": [{"name": s.step_name, "stage": s.stage} for s in spec.steps]}

    def plan(self, spec: PipelineSpec) -> list[Shard]:
        return [spec.shard(i) for i in range(len(spec.steps))]

    def run(self, ctx: TaskContext[PipelineSpec]) -> None:
        if not ctx.dist.is_main:
            return
        run_step(
            ctx.run, ctx.spec, ctx.task_index, ctx.run.read_manifest(), local=ctx.profile.executor == "local"
        )

    def make_launcher(self, profile: Profile, spec: PipelineSpec, console: Any = None) -> Launcher:
        """Links in order here, or chained SLURM link jobs (see :mod:`s1slurm.pipeline.links`)."""
        return make_launcher(profile, spec, self.ref(), console=console)

    def related_jobs(self, run: RunDir, task: int | None = None) -> list[str]:
        """The links (all, or step ``task``'s) and the jobs of the runs the steps made."""
        return pipeline_job_ids(run, task)

    def related_runs(self, run: RunDir) -> list[RunDir]:
        return step_runs(run)

    def steps(self, status: RunStatus, runs: dict[Path, RunStatus]) -> list[dict[str, Any]]:
        return pipeline_steps(status, runs)

    def resume(
        self, run: RunDir, console: Any = None, failed_only: bool = False
    ) -> tuple[list[PlannedTask], Submission | None]:
        """From the pipeline's first unfinished step (:func:`~s1slurm.pipeline.control.resume_pipeline`)."""
        return resume_pipeline(run, console=console, failed_only=failed_only)
