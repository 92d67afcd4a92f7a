"""``s1slurm init`` (write a commented cluster.yaml) and ``s1slurm profiles`` (list what a command sees)."""

from __future__ import annotations

from pathlib import Path

import typer

from s1slurm.cli.common import ClusterOpt, choose_cluster
from s1slurm.cli.common import console as make_console


def init(
    slurm: bool = typer.Option(
        False, "--slurm", help="add a profile filled from sinfo and scontrol (run on a login node)"
    ),
    path: Path | None = typer.Option(
        None, "--path", help="where to write it (default: ./cluster.yaml)", show_default=False
    ),
    user: bool = typer.Option(
        False,
        "--user",
        help="write it to the user config folder (~/.config/s1slurm/cluster.yaml), used from any folder",
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
) -> None:
    """Write a commented cluster.yaml to edit: the 'local' profile, and with --slurm one for this cluster."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.config.discovery import FILE_NAME, user_config_dir
    from s1slurm.config.scaffold import render, write_cluster_file
    from s1slurm.config.slurm_facts import read_slurm_facts

    if path is not None and user:
        raise typer.BadParameter("give --path or --user, not both", param_hint="'--user'")
    target = path or (user_config_dir() / FILE_NAME if user else Path(FILE_NAME))
    written = write_cluster_file(target, render(read_slurm_facts() if slurm else None), force=force)
    console = make_console()
    names = ", ".join(written.profiles)
    console.print(f"wrote {target} (profiles: {names}; default: {written.default})", markup=False)
    console.print("list what s1slurm sees with: s1slurm profiles", markup=False)


def profiles(ctx: typer.Context, cluster: ClusterOpt = None) -> None:
    """List the cluster profiles s1slurm sees and the file each one comes from."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.config.discovery import search_order
    from s1slurm.core.table_fit import FittedTable

    choice = choose_cluster(ctx, cluster)
    console = make_console()
    used = choice.source
    console.print(f"profiles from: {used.label} ({used.reason})", markup=False)
    if used.reason != "--cluster":

        def state(path: Path | None) -> str:
            if path is None:
                return "not set"
            return f"{path} ({'used' if path == used.path else 'found' if path.is_file() else 'absent'})"

        looked = [f"{where}: {state(path)}" for where, path in search_order()]
        console.print("searched: " + "; ".join(looked), markup=False)
    table = FittedTable(box=None, pad_edge=False)
    for col in ("profile", "executor", "partition"):
        table.add_column(col)
    table.add_column("GPUs/node", priority=2)
    table.add_column("time", priority=1)
    table.add_column("from", wrap=True, min_width=16)  # paths are long: fold them, never cut them
    for name, profile in choice.cluster.profiles.items():
        shown = f"{name} (default)" if name == choice.cluster.default else name
        origin = choice.origins.get(name, str(choice.path))
        table.add_row(
            shown,
            profile.executor,
            profile.partition or "-",
            str(profile.gpus_per_node),
            str(profile.time) if profile.executor == "slurm" else "-",
            origin,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command()(init)
    app.command()(profiles)
