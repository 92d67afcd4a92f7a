"""``s1slurm``: the typer app, its global options, the registration of every command, and ``main``.

Each command lives in its own module under ``s1slurm/cli/`` with a ``register(app)`` function;
adding a command is adding a module and one ``register`` line below.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from s1slurm import __version__
from s1slurm.cli import demo, monitor, report, submit
from s1slurm.cli.common import Options
from s1slurm.core.errors import S1SlurmError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run the s1 recipe (curation, SFT, budget-forcing evaluation) on SLURM or locally.")


@app.callback()
def _global(ctx: typer.Context,
            cluster: Path = typer.Option(Path("cluster.yaml"), "--cluster", help="cluster profiles file"),
            profile: Optional[str] = typer.Option(None, "--profile", help="profile name (default: the file's default)"),
            version: bool = typer.Option(False, "--version", help="print the version and exit")) -> None:
    if version:
        print(__version__)
        raise typer.Exit()
    ctx.obj = Options(cluster=cluster, profile=profile)


# One line per command module (the order is the order of ``s1slurm --help``).
submit.register(app)
monitor.register(app)
report.register(app)
demo.register(app)


def main() -> None:
    """Entry point: user errors become one red line and their exit code, never a traceback."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of exiting
    except S1SlurmError as e:
        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(str(e))}", markup=True, highlight=False,
                                                     soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; finished shards are kept (see 's1slurm resume')")
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:  # click's own usage errors
        import click

        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
