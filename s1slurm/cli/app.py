"""``s1slurm``: the typer app, its global options, the registration of every command, and ``main``.

Each command lives in its own module under ``s1slurm/cli/`` with a ``register(app)`` function;
adding a command is adding a module and one ``register`` line below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from s1slurm.cli import cost_plan, curate, demo, monitor, profiles, report, submit
from s1slurm.cli.common import Options

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Run the s1 recipe (curation, SFT, budget-forcing evaluation) on SLURM or locally.",
)


def _print_version(value: bool) -> None:
    """``--version``: eager, so that it works without a command."""
    if value:
        from s1slurm.cli.version import version_text  # loaded only for --version

        print(version_text())
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    cluster: Path | None = typer.Option(
        None,
        "--cluster",
        show_default=False,
        help="cluster profiles file (default: $S1SLURM_CLUSTER, ./cluster.yaml, "
        "~/.config/s1slurm/cluster.yaml, else the built-in 'local' profile); "
        "also accepted after the command, where it wins",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        show_default=False,
        help="profile name (default: the file's default); also accepted after the command, where it wins",
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="print the versions of s1slurm and its main libraries, and exit",
    ),
) -> None:
    ctx.obj = Options(cluster=cluster, profile=profile)


# One line per command module (the order is the order of ``s1slurm --help``).
submit.register(app)
monitor.register(app)
report.register(app)
curate.register(app)
cost_plan.register(app)
demo.register(app)
profiles.register(app)


def main() -> None:
    """Entry point: usage errors and s1slurm's own errors are one message and an exit code; bugs are
    written to a crash file (see :mod:`s1slurm.cli.handling`)."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.cli.handling import run_app

    sys.exit(run_app(app))
