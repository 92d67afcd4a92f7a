"""``s1slurm status``, ``logs``, ``cancel`` and ``resume``: commands that act on a run folder."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from s1slurm.cli.common import console as make_console
from s1slurm.core.errors import S1SlurmError


def status(run_dir: Path = typer.Argument(..., help="a run folder made by 's1slurm submit'"),
           watch: bool = typer.Option(False, "--watch", "-w", help="live dashboard until every task ends"),
           interval: float = typer.Option(5.0, "--interval", help="seconds between refreshes with --watch"),
           ) -> None:
    """Show the state of every task of a run."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.monitor.render import status_table, summary, watch as watch_run
    from s1slurm.monitor.status import read_status

    run = RunDir.open(run_dir)
    console = make_console()
    if watch:
        watch_run(run, console, interval=interval)
        return
    st = read_status(run)
    console.print(summary(st))
    console.print(status_table(st))


def logs(run_dir: Path = typer.Argument(..., help="a run folder"),
         task: int = typer.Option(0, "--task", "-t", help="task index"),
         follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the task ends"),
         ) -> None:
    """Print the logs of one task (every rank of a multi-node task)."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.monitor.logs import follow as follow_logs, log_paths
    from s1slurm.monitor.status import read_status

    run = RunDir.open(run_dir)
    manifest = run.read_manifest()
    paths = log_paths(run, manifest, task)
    if not paths:
        raise S1SlurmError(f"task {task} has not been submitted (see 's1slurm status {run_dir}')")
    console = make_console()
    if follow:
        def finished() -> bool:
            return read_status(run).tasks[task].terminal

        for line in follow_logs(paths, finished):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return
    shown = False
    for p in paths:
        if p.exists():
            shown = True
            if len(paths) > 1:
                sys.stdout.write(f"==> {p} <==\n")
            sys.stdout.write(p.read_text(errors="replace"))
    if not shown:
        console.print(f"no log yet for task {task} (expected: {', '.join(str(p) for p in paths)})")


def cancel(run_dir: Path = typer.Argument(..., help="a run folder")) -> None:
    """Cancel every job of a run."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.control import cancel as cancel_run

    for line in cancel_run(RunDir.open(run_dir)):
        make_console().print(line, markup=False, highlight=False)


def resume(run_dir: Path = typer.Argument(..., help="a run folder")) -> None:
    """Run again the shards of a run that have no done marker (and are not queued or running)."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.control import resume as resume_run

    todo, submission = resume_run(RunDir.open(run_dir))
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
