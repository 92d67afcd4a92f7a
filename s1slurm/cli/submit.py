"""``s1slurm submit``: resolve a stage's spec against a profile, then submit it or run it here."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from s1slurm.cli.common import ClusterOpt, ProfileOpt, choose_cluster
from s1slurm.cli.common import console as make_console
from s1slurm.core.errors import ConfigError


def submit(
    ctx: typer.Context,
    stage: str = typer.Argument(..., help="probe, eval, train, curate or pipeline"),
    config: Path = typer.Option(..., "--config", "-c", help="job spec, e.g. jobs/probe.yaml"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the exact sbatch script(s); submit nothing"),
    test_only: bool = typer.Option(
        False, "--test-only", help="ask SLURM (sbatch --test-only) whether it would accept them"
    ),
    force: bool = typer.Option(
        False, "--force", help="submit even when the stage's resource estimate says it will not fit"
    ),
    cluster: ClusterOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Submit a stage as SLURM job(s), or run it here with a local profile."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.stages import get_stage
    from s1slurm.stages import submission as sub

    choice = choose_cluster(ctx, cluster, profile)
    console = make_console()
    try:
        resolved = sub.resolve(
            get_stage(stage),
            config,
            choice.cluster,
            choice.path,
            choice.profile,
            force=force,
            dry_run=dry_run or test_only,
        )
    except ConfigError as e:
        raise choice.explain(e) from None
    launcher = sub.make_launcher(resolved)
    n = len(resolved.tasks)
    if dry_run or test_only:
        run = sub.dry_run_dir(resolved)
        if dry_run:
            width = console.width if console.is_terminal else None  # a pipe or a log keeps the full layout
            plan = resolved.stage.plan_text(resolved.spec, resolved.profile, width=width)
            if plan is not None:
                sys.stdout.write(plan.rstrip("\n") + "\n\n")
            for i, text in enumerate(launcher.render(run, resolved.tasks)):
                # Plain text, never wrapped: the script must be copyable as it is.
                sys.stdout.write(
                    f"# ---- script {i + 1} ----\n" if resolved.profile.executor == "slurm" else ""
                )
                sys.stdout.write(text.rstrip("\n") + "\n")
                sys.stdout.flush()
        if test_only:
            for answer in launcher.test(run, resolved.tasks):
                console.print(answer, markup=False, highlight=False)
        return
    for note in getattr(resolved.stage, "notes", []):  # a dry run shows them in its plan; say them here too
        if note.startswith("warning:"):
            console.print(note, markup=False, highlight=False)
    run, submission = sub.submit(resolved, launcher, sys.argv)
    if submission.executor == "slurm":
        jobs = ", ".join(
            a["job_id"] + (f" (array of {a['size']})" if a["array"] else "") for a in submission.arrays
        )
        console.print(f"submitted {n} task(s) of [bold]{stage}[/bold] as job(s) {jobs}")
        console.print(f"run folder: {run.path}")
        console.print(f"watch it:   s1slurm status {run.path} --watch")
    else:
        failed = len(submission.failed_tasks)
        console.print(
            f"ran {n} task(s) of [bold]{stage}[/bold] locally: {n - failed} succeeded, {failed} failed"
        )
        console.print(f"run folder: {run.path}")
        if failed:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command()(submit)
