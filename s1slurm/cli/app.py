"""``s1slurm``: submit stages, watch runs, read their logs, cancel, resume, report."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from s1slurm import __version__
from s1slurm.core.errors import S1SlurmError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run the s1 recipe (curation, SFT, budget-forcing evaluation) on SLURM or locally.")


@dataclass
class Options:
    """Global options, given before the command."""

    cluster: Path
    profile: Optional[str]


def _console() -> Console:
    return Console(stderr=False, highlight=False, soft_wrap=True)  # paths stay on one line


@app.callback()
def _global(ctx: typer.Context,
            cluster: Path = typer.Option(Path("cluster.yaml"), "--cluster", help="cluster profiles file"),
            profile: Optional[str] = typer.Option(None, "--profile", help="profile name (default: the file's default)"),
            version: bool = typer.Option(False, "--version", help="print the version and exit")) -> None:
    if version:
        print(__version__)
        raise typer.Exit()
    ctx.obj = Options(cluster=cluster, profile=profile)


@app.command()
def submit(ctx: typer.Context,
           stage: str = typer.Argument(..., help="probe, eval, train or curate"),
           config: Path = typer.Option(..., "--config", "-c", help="job spec, e.g. jobs/probe.yaml"),
           dry_run: bool = typer.Option(False, "--dry-run", help="print the exact sbatch script(s); submit nothing"),
           test_only: bool = typer.Option(False, "--test-only", help="ask SLURM (sbatch --test-only) whether it would accept them"),
           ) -> None:
    """Submit a stage as SLURM job(s), or run it here with a local profile."""
    from s1slurm.config.cluster import load_cluster
    from s1slurm.launch import submit as sub

    opts: Options = ctx.obj
    console = _console()
    cluster = load_cluster(opts.cluster)
    resolved = sub.resolve(stage, config, cluster, opts.cluster, opts.profile)
    launcher = sub.make_launcher(resolved)
    n = len(resolved.tasks)
    if dry_run or test_only:
        run = sub.dry_run_dir(resolved)
        if dry_run:
            for i, text in enumerate(launcher.render(run, resolved.tasks)):
                # Plain text, never wrapped: the script must be copyable as it is.
                sys.stdout.write(f"# ---- script {i + 1} ----\n" if resolved.profile.executor == "slurm" else "")
                sys.stdout.write(text.rstrip("\n") + "\n")
                sys.stdout.flush()
        if test_only:
            for answer in launcher.test(run, resolved.tasks):
                console.print(answer, markup=False, highlight=False)
        return
    run, submission = sub.submit(resolved, launcher, sys.argv)
    if submission.executor == "slurm":
        jobs = ", ".join(a["job_id"] + (f" (array of {a['size']})" if a["array"] else "") for a in submission.arrays)
        console.print(f"submitted {n} task(s) of [bold]{stage}[/bold] as job(s) {jobs}")
        console.print(f"run folder: {run.path}")
        console.print(f"watch it:   s1slurm status {run.path} --watch")
    else:
        failed = len(submission.failed_tasks)
        console.print(f"ran {n} task(s) of [bold]{stage}[/bold] locally: {n - failed} succeeded, {failed} failed")
        console.print(f"run folder: {run.path}")
        if failed:
            raise typer.Exit(1)


@app.command()
def status(run_dir: Path = typer.Argument(..., help="a run folder made by 's1slurm submit'"),
           watch: bool = typer.Option(False, "--watch", "-w", help="live dashboard until every task ends"),
           interval: float = typer.Option(5.0, "--interval", help="seconds between refreshes with --watch"),
           ) -> None:
    """Show the state of every task of a run."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.monitor.render import status_table, summary, watch as watch_run
    from s1slurm.monitor.status import read_status

    run = RunDir.open(run_dir)
    console = _console()
    if watch:
        watch_run(run, console, interval=interval)
        return
    st = read_status(run)
    console.print(summary(st))
    console.print(status_table(st))


@app.command()
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
    console = _console()
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


@app.command()
def cancel(run_dir: Path = typer.Argument(..., help="a run folder")) -> None:
    """Cancel every job of a run."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.control import cancel as cancel_run

    for line in cancel_run(RunDir.open(run_dir)):
        _console().print(line, markup=False, highlight=False)


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="a run folder")) -> None:
    """Run again the shards of a run that have no done marker (and are not queued or running)."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.control import resume as resume_run

    todo, submission = resume_run(RunDir.open(run_dir))
    console = _console()
    if not todo:
        console.print("every shard is done or still queued/running: nothing to resume")
        return
    console.print(f"resumed {len(todo)} task(s): {', '.join(str(t.index) for t in todo)}")
    if submission and submission.arrays:
        console.print("job(s): " + ", ".join(a["job_id"] for a in submission.arrays))
    if submission and submission.failed_tasks:
        raise typer.Exit(1)


@app.command()
def report(run_dirs: list[Path] = typer.Argument(..., help="one or more evaluation run folders"),
           out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: reports/<run name>)"),
           strict: bool = typer.Option(False, "--strict", help="exit non-zero when the report is partial"),
           reference: Optional[str] = typer.Option(None, "--reference", help="overlay published figures: s1-32b"),
           ) -> None:
    """Merge evaluation records into scaling curves with Control, Scaling and Performance."""
    from s1slurm.report import build_report, default_out_dir, render_terminal

    console = _console()
    with console.status("merging records and writing the report"):
        try:
            result = build_report(run_dirs, out or default_out_dir(run_dirs), strict=strict, reference=reference)
        except S1SlurmError as e:  # --strict on a partial report: show it, then fail
            if getattr(e, "result", None) is None:
                raise
            render_terminal(e.result, console)
            raise
    render_terminal(result, console)
    for name, path in result.files.items():
        console.print(f"wrote {path}", markup=False, highlight=False)


@app.command()
def demo(ctx: typer.Context,
         engine: Optional[str] = typer.Option(None, "--engine", help="vllm or transformers (default: vllm if installed)"),
         data: Optional[Path] = typer.Option(None, "--data", help="folder with benchmarks/math500.jsonl and aime24.jsonl"),
         runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where the run folder is created"),
         out: Optional[Path] = typer.Option(None, "--out", help="report folder (default: reports/<run name>)"),
         ) -> None:
    """Run the main job on the embedded default: a local evaluation sweep of SmolLM2 and its report."""
    from s1slurm.config.cluster import ClusterFile, Profile
    from s1slurm.demo import default_engine, demo_spec, find_data_dir, write_demo_spec
    from s1slurm.launch import submit as sub
    from s1slurm.report import build_report, default_out_dir, render_terminal

    console = _console()
    spec = demo_spec(find_data_dir(data), engine or default_engine(), runs_dir)
    spec_path = write_demo_spec(runs_dir / ".demo" / "eval-demo.yaml", spec)
    # The demo always runs here, whatever cluster.yaml says.
    cluster = ClusterFile(default="local", profiles={"local": Profile(executor="local")})
    resolved = sub.resolve("eval", spec_path, cluster, Path("<embedded>"), "local")
    console.print(f"demo: {len(resolved.tasks)} local task(s), model SmolLM2-135M-Instruct, engine "
                  f"{spec['engine']}, {len(resolved.spec.settings())} budget settings")
    run, submission = sub.submit(resolved, sub.make_launcher(resolved), sys.argv)
    console.print(f"run folder: {run.path}")
    result = build_report([run.path], out or default_out_dir([run.path]))
    render_terminal(result, console)
    console.print(f"report: {result.files.get('report.html')}", markup=False, highlight=False)
    if submission.failed_tasks:
        raise typer.Exit(1)


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
