"""``s1slurm demo``: the main job on the embedded default, run here end to end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from s1slurm.cli.common import console as make_console


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

    console = make_console()
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


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command()(demo)
