"""Stages: probe, eval, train, curate. Looked up by name; heavy imports happen only when used."""

from __future__ import annotations

import importlib

from s1slurm.core.errors import ConfigError

# name -> (module, class, available). Modules are imported lazily so the CLI starts fast.
_STAGES: dict[str, tuple[str, str]] = {
    "probe": ("s1slurm.stages.probe", "ProbeStage"),
    "eval": ("s1slurm.stages.eval", "EvalStage"),
    "train": ("s1slurm.stages.train", "TrainStage"),
    "pipeline": ("s1slurm.stages.pipeline", "PipelineStage"),
    "curate": ("s1slurm.stages.curate", "CurateStage"),
}
PLANNED: dict[str, str] = {}


def stage_names() -> list[str]:
    return sorted(set(_STAGES) | set(PLANNED))


def get_stage(name: str):
    """The Stage object for ``name``; a clear error for unknown or not yet available stages."""
    if name in _STAGES:
        module, cls = _STAGES[name]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # the stage itself is not in this version
                raise ConfigError(f"stage '{name}' is not yet available in this version") from None
            raise
        return getattr(mod, cls)()
    if name in PLANNED:
        raise ConfigError(f"stage '{name}' ({PLANNED[name]}) is not yet available in this version")
    raise ConfigError(f"unknown stage '{name}'", expected=f"one of: {', '.join(stage_names())}")
