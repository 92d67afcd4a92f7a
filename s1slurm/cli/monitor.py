"""``s1slurm status``, ``logs``, ``cancel`` and ``resume``: commands that act on run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from s1slurm.cli.common import console as make_console
from s1slurm.core.errors import ConfigError


def status(
    run_dirs: list[Path] = typer.Argument(..., help="one or more run folders made by 's1slurm submit'"),
    watch: bool = typer.Option(False, "--watch", "-w", help="live dashboard until every task ends"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (for scripts)"),
    interval: float = typer.Option(
        2.0,
        "--interval",
        min=0.2,
        max=3600,
        help="seconds between SLURM polls while things change (--watch; backs off to 30 s)",
    ),
    rows: int = typer.Option(200, "--rows", min=1, help="tasks listed at most (the interesting ones first)"),
) -> None:
    """Show the state of every task of one or more runs (squeue + sacct + the run folders)."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.scheduler import Scheduler
    from s1slurm.monitor.progress import ProgressReader
    from s1slurm.monitor.render import as_json as views_json
    from s1slurm.monitor.render import failure_lines, plain_line, status_table, steps_table, summary
    from s1slurm.monitor.watch import build_views
    from s1slurm.monitor.watch import watch as watch_runs

    runs = [RunDir.open(p) for p in run_dirs]
    console = make_console()
    if watch and not as_json:
        watch_runs(runs, console, min_interval=interval)
        return
    views = build_views(runs, Scheduler(), ProgressReader())
    if as_json:
        sys.stdout.write(json.dumps(views_json(views), indent=2, default=str) + "\n")
        return
    for view in views:
        if view.steps:
            console.print(f"[bold]{view.status.manifest['run']}[/bold] (pipeline)")
            console.print(steps_table(view.steps))
            for line in failure_lines(view):
                console.print(line)
            continue
        console.print(summary(view.status))
        console.print(status_table(view.status, max_rows=rows))
        if view.progress is not None and view.progress.unit != "shards":
            console.print(plain_line(view).split("\n")[0], markup=False, highlight=False)
        for line in failure_lines(view):
            console.print(line)


def logs(
    run_dir: Path = typer.Argument(..., help="a run folder"),
    task: int = typer.Option(0, "--task", "-t", help="task index"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the task ends"),
) -> None:
    """Print the logs of one task (every rank of a multi-node task, each line labelled)."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.task_logs import follow as follow_logs
    from s1slurm.launch.task_logs import task_logs
    from s1slurm.launch.task_status import read_status

    run = RunDir.open(run_dir)
    files = task_logs(run, run.read_manifest(), task)
    if not files:
        raise ConfigError(
            f"task {task} has no logs yet: it has not been submitted or has not started "
            f"(see 's1slurm status {run_dir}')",
            file=str(run.manifest_path),
            field="--task",
            expected="a task that has started",
        )
    if follow:

        def finished() -> bool:
            return read_status(run).tasks[task].terminal

        for line in follow_logs(files, finished):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return
    shown = False
    for f in files:
        if f.path.exists():
            shown = True
            if len(files) > 1:
                sys.stdout.write(f"==> [{f.label}] {f.path} <==\n")
            sys.stdout.write(f.path.read_text(errors="replace"))
    if not shown:
        make_console().print(
            f"no log yet for task {task} (expected: {', '.join(str(f.path) for f in files)})",
            markup=False,
            highlight=False,
        )


def cancel(
    run_dir: Path = typer.Argument(..., help="a run folder"),
    task: int | None = typer.Option(None, "--task", "-t", help="cancel only this task"),
) -> None:
    """Cancel every job of a run (or one task's); recorded in its manifest."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.core.rundir import RunDir
    from s1slurm.ops.control import cancel as cancel_run

    for line in cancel_run(RunDir.open(run_dir), task):
        make_console().print(line, markup=False, highlight=False)


def resume(
    run_dir: Path = typer.Argument(..., help="a run folder"),
    failed_only: bool = typer.Option(
        False,
        "--failed-only",
        help="only tasks that failed, timed out, "
        "were preempted or lost (not cancelled or never submitted ones)",
    ),
) -> None:
    """Run again, as one new array, the shards without a done marker that are not queued or running."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.core.rundir import RunDir
    from s1slurm.ops.control import resume as resume_run

    todo, submission = resume_run(RunDir.open(run_dir), failed_only=failed_only)
    console = make_console()
    if not todo:
        console.print("every shard is done or still queued/running: nothing to resume")
        return
    console.print(f"resumed {len(todo)} task(s): {', '.join(str(t.index) for t in todo)}")
    if submission and submission.arrays:
        console.print("job(s): " + ", ".join(a["job_id"] for a in submission.arrays))
    if submission and submission.failed_tasks:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app, in the order ``--help`` lists them."""
    app.command()(status)
    app.command()(logs)
    app.command()(cancel)
    app.command()(resume)
