"""The pipeline spec (``jobs/pipeline-*.yaml``): an ordered list of steps, each a stage and its spec."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.errors import FieldError
from s1slurm.core.shard import Shard
from s1slurm.stages import get_stage, stage_names

# The report step: built by the pipeline's own link from the evaluation before it (not a stage).
REPORT = "report"
REPORT_INPUT = "evaluation records"  # what the step before a report must produce
_STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+]*$")


def _reportable(stage: str) -> bool:
    """Whether a report can be built from the output of a step of ``stage`` (evaluation records)."""
    return stage in stage_names() and get_stage(stage).produces == REPORT_INPUT


class StepConfig(Strict):
    """One step: a stage, the spec it runs (not for ``report``), and an optional name."""

    stage: str = Field(..., description="curate, train, eval, report (or probe)")
    config: Path | None = Field(None, description="the stage's job spec (relative to the pipeline spec)")
    name: str | None = Field(None, description="step name (default: the stage); unique in the pipeline")
    reference: str | None = Field(None, description="report only: overlay published figures (s1-32b)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _STEP_NAME.match(v):
            raise ValueError("must start with a letter and hold only letters, digits, '_', '.', '+'")
        return v

    @model_validator(mode="after")
    def _config(self) -> StepConfig:
        if self.stage == REPORT:
            if self.config is not None:
                raise ValueError("a report step takes no config (it reports the eval step before it)")
        elif self.config is None:
            raise ValueError(f"a {self.stage} step needs 'config': the path of its job spec")
        if self.reference is not None and self.stage != REPORT:
            raise ValueError("'reference' is for report steps only")
        return self

    @property
    def step_name(self) -> str:
        return self.name or self.stage


class PipelineSpec(JobSpec):
    """``jobs/pipeline-*.yaml``: steps run in order, each after the previous one succeeded.

    ``cluster:`` overrides apply to the pipeline's own small jobs (the links that submit each step
    and the report); each step's job spec keeps its own ``cluster:`` for its jobs.
    """

    steps: list[StepConfig] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _steps(self) -> PipelineSpec:
        names = [s.step_name for s in self.steps]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise FieldError(
                "steps", f"step names must be unique (give 'name:' to repeated stages): {', '.join(dup)}"
            )
        for i, s in enumerate(self.steps):
            if s.stage == REPORT and (i == 0 or not _reportable(self.steps[i - 1].stage)):
                raise FieldError(f"steps.{i}", "a report step must come right after an eval step")
        return self

    def shard(self, index: int) -> Shard:
        """The pipeline task (shard) of step ``index``."""
        return Shard(self.steps[index].step_name, 0, 1)
