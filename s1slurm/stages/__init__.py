"""Stages: probe, eval, train, curate (and the pipeline that chains them). Looked up by name when
a spec is submitted, and by the reference recorded in a run's manifest afterwards; a stage's module
is imported only when it is asked for, so the command line starts fast."""

from __future__ import annotations

import importlib
from typing import Any

from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.task import StageRef
from s1slurm.stages.base import Stage

# name -> (module, class). The pipeline stage lives above the stages it chains (in the pipeline
# package); it is named here by string, like every stage, and imported only when asked for.
_STAGES: dict[str, tuple[str, str]] = {
    "probe": ("s1slurm.stages.probe", "ProbeStage"),
    "eval": ("s1slurm.stages.eval", "EvalStage"),
    "train": ("s1slurm.stages.train", "TrainStage"),
    "pipeline": ("s1slurm.pipeline.stage", "PipelineStage"),
    "curate": ("s1slurm.stages.curate", "CurateStage"),
}


def stage_names() -> list[str]:
    return sorted(_STAGES)


def get_stage(name: str) -> Stage[Any]:
    """The Stage object for ``name``; a clear error for an unknown stage."""
    if name not in _STAGES:
        raise ConfigError(f"unknown stage '{name}'", expected=f"one of: {', '.join(stage_names())}")
    module, cls = _STAGES[name]
    return _checked(getattr(importlib.import_module(module), cls)())


def stage_of(run: RunDir, manifest: dict | None = None) -> Stage[Any]:
    """The stage whose tasks ``run`` runs, from the reference recorded in its manifest."""
    manifest = run.read_manifest() if manifest is None else manifest
    return _checked(StageRef.from_manifest(manifest, file=str(run.manifest_path)).load())


def _checked(stage: object) -> Stage[Any]:
    if not isinstance(stage, Stage):
        raise ConfigError(f"{type(stage).__qualname__} is not a stage", expected="a subclass of Stage")
    return stage


__all__ = ["Stage", "get_stage", "stage_names", "stage_of"]
