"""Job specs (``jobs/*.yaml``): which stage to run, its settings, and per-stage cluster overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from s1slurm.config.cluster import Strict

_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


class JobSpec(Strict):
    """Fields every stage's spec has. Stages subclass it with their own fields."""

    stage: str
    name: str | None = Field(None, description="SLURM job name (default: the stage)")
    profile: str | None = Field(
        None, description="cluster profile (default: --profile or the file's default)"
    )
    cluster: dict[str, Any] = Field(
        default_factory=dict, description="overrides of any cluster profile field for this stage"
    )
    runs_dir: Path = Field(Path("runs"), description="where run directories are created")
    max_requeues: int = Field(
        3, ge=0, description="requeues allowed after time limits (submitit's max_num_timeout)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        # Any text is harmless in a job name (never passed through a shell) except line breaks,
        # which could start a new line in the sbatch script.
        if v is not None and not _NAME.match(v):
            raise ValueError("must be 1-128 characters without newlines or control characters")
        return v

    @property
    def job_name(self) -> str:
        return self.name or self.stage
