"""What every command shares: the console, the global options and the cluster/profile choice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from s1slurm.config.cluster import ClusterFile


@dataclass
class Options:
    """Global options given before the command (``s1slurm --profile ci submit ...``)."""

    cluster: Optional[Path]
    profile: Optional[str]


# The same two options, for commands to accept after their name too (``s1slurm submit ... --profile ci``).
# Declare them as ``cluster: ClusterOpt = None, profile: ProfileOpt = None`` and pass both to
# :func:`choose_cluster`, which gives the one given after the command precedence.
ClusterOpt = Annotated[Optional[Path], typer.Option("--cluster", help="cluster profiles file", show_default=False)]
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", help="profile name (default: the file's default)",
                                                    show_default=False)]


@dataclass
class ClusterChoice:
    """The cluster file a command uses, where it came from, and the profile asked for (None: default)."""

    cluster: ClusterFile
    path: Path
    profile: Optional[str]


def console() -> Console:
    """The console commands print to (stdout; paths stay on one line)."""
    return Console(stderr=False, highlight=False, soft_wrap=True)


def global_options(ctx: typer.Context) -> Options:
    """The options given before the command (defaults when the command is run without the app)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Options) else Options(cluster=None, profile=None)


def choose_cluster(ctx: typer.Context, cluster: Optional[Path] = None, profile: Optional[str] = None) -> ClusterChoice:
    """Load the cluster file for a command; options given after the command win over global ones."""
    from s1slurm.config.cluster import load_cluster

    opts = global_options(ctx)
    path = cluster or opts.cluster or Path("cluster.yaml")
    return ClusterChoice(cluster=load_cluster(path), path=path, profile=profile or opts.profile)
