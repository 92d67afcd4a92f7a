"""Cluster profiles: the ``cluster.yaml`` file and the resources of one profile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from s1slurm.config.loading import load_model, validation_error
from s1slurm.core.errors import ConfigError, FieldError

# Values that end up in an sbatch script must not be able to start a new line in it.
_NO_CONTROL = re.compile(r"^[^\x00-\x1f\x7f]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Container(Strict):
    """A pyxis/enroot container image, passed to ``srun`` as ``--container-*`` options."""

    image: str
    mounts: list[str] = Field(default_factory=list)
    workdir: str | None = None

    @field_validator("image", "workdir", "mounts")
    @classmethod
    def _single_line(cls, v: Any) -> Any:
        for item in v if isinstance(v, list) else [v]:
            if item is not None and not _NO_CONTROL.match(item):
                raise ValueError("must not contain newlines or control characters")
        return v


def parse_time_minutes(value: str | int) -> int:
    """SLURM time (``MM``, ``HH:MM:SS``, ``D-HH:MM:SS``, ``D-HH``) or minutes, as whole minutes."""
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("time in minutes must be positive")
        return value
    m = _TIME.match(str(value).strip())
    if not m:
        raise ValueError("time must be minutes or SLURM time like '02:00:00' or '1-00:00:00'")
    days, a, b, c = m.groups()
    days = int(days or 0)
    if days and b is None:  # D-HH
        h, mi, s = int(a), 0, 0
    elif c is not None:  # HH:MM:SS
        h, mi, s = int(a), int(b), int(c)
    elif b is not None:  # MM:SS (SLURM) or D-HH:MM
        h, mi, s = (int(a), int(b), 0) if days else (0, int(a), int(b))
    else:  # MM
        h, mi, s = 0, int(a), 0
    if mi > 59 or s > 59 or (days and h > 23):  # SLURM would read 99:99 as something else than meant
        raise ValueError(f"time {value!r} has minutes or seconds above 59 (or hours above 23 after a day)")
    minutes = days * 1440 + h * 60 + mi + (1 if s else 0)
    if minutes <= 0:
        raise ValueError("time must be positive")
    return minutes


class Profile(Strict):
    """Where and with which resources jobs run. Every field can be overridden per job spec."""

    executor: Literal["local", "slurm"] = "slurm"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time: str | int = "01:00:00"
    nodes: int = Field(1, ge=1)
    tasks_per_node: int = Field(1, ge=1)
    gpus_per_node: int = Field(0, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    array_parallelism: int | None = Field(None, ge=1)
    max_array_size: int | None = Field(
        None,
        ge=1,
        description="split arrays larger than this (default: the cluster's MaxArraySize from scontrol)",
    )
    signal_delay_s: int = Field(120, ge=0, description="USR2 this long before the time limit")
    setup: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    container: Container | None = None
    extra_sbatch: dict[str, str | int | bool] = Field(default_factory=dict)
    python: str | None = Field(None, description="Python interpreter on the nodes (default: this one)")
    gpu_memory_gb: float | None = Field(
        None, gt=0, description="memory of one GPU (training plans are checked against it; None: not checked)"
    )
    weights_cache: str | None = Field(
        None,
        description="folder every node reads, where hub weights are "
        "downloaded at submission (None: the ranks load the hub id themselves)",
    )

    @field_validator("partition", "account", "qos", "constraint", "python")
    @classmethod
    def _single_line(cls, v: str | None) -> str | None:
        if v is not None and not _NO_CONTROL.match(v):
            raise ValueError("must not contain newlines or control characters")
        return v

    @field_validator("partition", "account", "qos")
    @classmethod
    def _one_word(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(c.isspace() for c in v)):
            raise ValueError("a SLURM name has no spaces (several partitions: 'a,b')")
        return v

    @field_validator("time")
    @classmethod
    def _time(cls, v: str | int) -> str | int:
        parse_time_minutes(v)
        return v

    @model_validator(mode="after")
    def _signal_before_the_end(self) -> Profile:
        if self.executor == "slurm" and self.signal_delay_s >= self.time_minutes * 60:
            raise FieldError(
                "signal_delay_s",
                f"{self.signal_delay_s} s before the end is before the job starts "
                f"(time {self.time!r} is {self.time_minutes * 60} s)",
            )
        return self

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment variable name {name!r} is not a valid name")
            if "\x00" in str(value):
                raise ValueError(f"environment variable {name} contains a NUL byte")
        return {k: str(val) for k, val in v.items()}

    @field_validator("extra_sbatch")
    @classmethod
    def _extra(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if not re.match(r"^[a-z][a-z0-9_-]*$", key):
                raise ValueError(f"sbatch option {key!r} must be a long option name like 'mail-type'")
            if not _NO_CONTROL.match(str(value)):
                raise ValueError(f"sbatch option {key} must not contain newlines")
        return v

    @field_validator("setup")
    @classmethod
    def _setup(cls, v: list[str]) -> list[str]:
        for line in v:
            if "\n" in line or "\r" in line:
                raise ValueError("each setup entry is one shell line")
        return v

    @property
    def time_minutes(self) -> int:
        return parse_time_minutes(self.time)

    def merged(
        self, overrides: dict[str, Any], *, source: str = "<overrides>", prefix: str = "cluster"
    ) -> Profile:
        """A copy with ``overrides`` applied and validated; errors name ``source`` and ``prefix``."""
        data = self.model_dump(exclude_unset=False)
        data.update(overrides)
        try:
            return Profile.model_validate(data)
        except ValidationError as e:
            raise validation_error(e, Profile, source, prefix=prefix) from None


class ClusterFile(Strict):
    """The ``cluster.yaml`` file: named profiles and the default one."""

    default: str
    profiles: dict[str, Profile]

    @model_validator(mode="after")
    def _default_exists(self) -> ClusterFile:
        if self.default not in self.profiles:
            raise FieldError(
                "default",
                f"profile {self.default!r} is not one of the profiles ({', '.join(sorted(self.profiles))})",
            )
        return self

    def profile(self, name: str | None, *, file: str = "cluster.yaml") -> Profile:
        """The named profile (the default when ``name`` is None); a clear error if it is missing."""
        key = name or self.default
        if key not in self.profiles:
            raise ConfigError(
                f"no profile named {key!r}",
                file=file,
                field="profiles",
                expected=f"one of: {', '.join(sorted(self.profiles))}",
            )
        return self.profiles[key]


def load_cluster(path: Path | str) -> ClusterFile:
    """Read and validate a cluster profiles file."""
    return load_model(path, ClusterFile)
