"""What every command shares: the console, the global options and the cluster/profile choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from s1slurm.config.cluster import ClusterFile
    from s1slurm.config.discovery import ClusterSource


@dataclass
class Options:
    """Global options given before the command (``s1slurm --profile ci submit ...``)."""

    cluster: Path | None = None
    profile: str | None = None


# The same two options, for commands to accept after their name too (``s1slurm submit ... --profile ci``).
# Declare them as ``cluster: ClusterOpt = None, profile: ProfileOpt = None`` and pass both to
# :func:`choose_cluster`: given after the command, they win over the same options given before it.
ClusterOpt = Annotated[
    Path | None,
    typer.Option(
        "--cluster",
        help="cluster profiles file (default: $S1SLURM_CLUSTER, ./cluster.yaml, "
        "~/.config/s1slurm/cluster.yaml, else the built-in 'local' profile)",
        show_default=False,
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="profile name (default: the file's default)", show_default=False),
]


@dataclass
class ClusterChoice:
    """The profiles a command uses, the file they came from, and the profile asked for (None: default)."""

    cluster: ClusterFile
    path: Path  # the file, or "<built-in>" when none was found (errors name it)
    profile: str | None
    source: ClusterSource
    origins: dict[str, str] = field(default_factory=dict)  # profile name -> file or "built-in"

    def explain(self, error: Exception) -> Exception:
        """``error`` with a hint when a profile is missing because no cluster file was found at all."""
        # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
        from s1slurm.config.discovery import ENV_VAR
        from s1slurm.core.errors import ConfigError

        if (
            not isinstance(error, ConfigError)
            or not error.detail.startswith("no profile named")
            or self.source.path is not None
        ):
            return error
        hint = (
            f"; no cluster.yaml was found (--cluster, ${ENV_VAR}, ./cluster.yaml, "
            "~/.config/s1slurm/cluster.yaml): write one with 's1slurm init' (on a SLURM login node: "
            "'s1slurm init --slurm')"
        )
        return ConfigError(error.detail + hint, file=error.file, field=error.field, expected=error.expected)


def console() -> Console:
    """The console commands print to (stdout; paths stay on one line)."""
    return Console(stderr=False, highlight=False, soft_wrap=True)


def global_options(ctx: typer.Context) -> Options:
    """The options given before the command (defaults when the command is run without the app)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Options) else Options()


def choose_cluster(
    ctx: typer.Context, cluster: Path | None = None, profile: str | None = None
) -> ClusterChoice:
    """Find and load the cluster profiles for a command (see :mod:`s1slurm.config.discovery`).

    ``cluster``/``profile`` are the command's own options: given after the command, they win over
    the same options given before it.
    """
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.config.discovery import discover

    opts = global_options(ctx)
    found = discover(cluster or opts.cluster)
    return ClusterChoice(
        cluster=found.cluster,
        path=Path(found.source.label),
        profile=profile or opts.profile,
        source=found.source,
        origins=found.origins,
    )
