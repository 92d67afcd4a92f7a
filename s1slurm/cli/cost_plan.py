"""``s1slurm plan train --config SPEC``: what a training spec costs per GPU, before it queues."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from s1slurm.cli.common import ClusterOpt, ProfileOpt, choose_cluster
from s1slurm.cli.common import console as make_console

plan_app = typer.Typer(no_args_is_help=True, help="Plan a stage's resources before submitting it.")


@plan_app.command("train")
def plan_train(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", "-c", help="training spec, e.g. jobs/train-s1-32b.yaml"),
    cluster: ClusterOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Memory per GPU, step and total time, checkpoint size and the USR2 margin of a training spec.

    Works offline: the model's shape comes from its config.json (local folder or hub) or, when the
    hub cannot be reached, from a built-in table; checks that need the hub are skipped and said so.
    Exits 2 where ``submit`` would refuse the spec (the breakdown is shown).
    """
    from s1slurm.core.table_fit import wrap_lines  # rich tables load when the command runs

    choice = choose_cluster(ctx, cluster, profile)
    stage, spec, prof = _checked(config, choice)
    console = make_console()
    # In a terminal, laid out for its width; in a pipe or a log, one line per row.
    width = console.width if console.is_terminal else None
    text = (stage.plan_text(spec, prof, width=width) or "no plan for this stage").rstrip("\n")
    sys.stdout.write((wrap_lines(text, width) if width else text) + "\n")


def _checked(config: Path, choice: Any) -> tuple[Any, Any, Any]:
    """Stage, spec and profile, checked as a dry run (hub checks skipped offline, nothing downloaded)."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.stages import get_stage
    from s1slurm.stages.submission import checked

    stage = get_stage("train")
    spec, _, profile = checked(stage, config, choice.cluster, choice.path, choice.profile, dry_run=True)
    return stage, spec, profile


def register(app: typer.Typer) -> None:
    """Add ``plan`` (with its ``train`` subcommand) to the app."""
    app.add_typer(plan_app, name="plan")
