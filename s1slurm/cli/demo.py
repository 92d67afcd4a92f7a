"""``s1slurm demo``: the s1 recipe in miniature (data, tiny model, SFT, budget forcing, report)."""

from __future__ import annotations

from pathlib import Path

import typer

from s1slurm.cli.common import choose_cluster, global_options
from s1slurm.cli.common import console as make_console


def demo(
    ctx: typer.Context,
    quick: bool = typer.Option(
        False, "--quick", help="fewer training steps and questions, a smaller curve (CI)"
    ),
    profile: str | None = typer.Option(
        None, "--profile", help="run the steps on this profile (default: local)"
    ),
    engine: str | None = typer.Option(
        None, "--engine", help="vllm or transformers (default: vllm if installed)"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where the demo folder is created"),
) -> None:
    """Run the s1 recipe in miniature here: generated data, a tiny Llama, SFT, budget forcing, report."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.core.errors import ConfigError
    from s1slurm.core.folders import check_output_folder
    from s1slurm.demo.run import run_demo

    if engine not in (None, "vllm", "transformers"):
        raise ConfigError(f"unknown engine {engine!r}", field="--engine", expected="vllm or transformers")
    opts = global_options(ctx)
    chosen = profile or opts.profile or "local"
    cluster_file = None
    if chosen != "local":
        choice = choose_cluster(ctx, None, chosen)
        choice.cluster.profile(chosen, file=str(choice.path))  # a missing profile: exit 2 here
        cluster_file = choice.path
    check_output_folder(runs_dir, field="--runs-dir")  # before anything is built
    console = make_console()
    result = run_demo(
        "quick" if quick else "full",
        runs_dir=runs_dir,
        engine=engine,
        profile=chosen,
        cluster_file=cluster_file,
        console=console,
    )
    console.print(f"curation: {result.curation}", markup=False)
    s = result.scaling
    if s.accuracy:
        lo, hi = min(s.accuracy), max(s.accuracy)
        console.print(
            f"test-time scaling on {s.questions} held-out questions: {100 * s.accuracy[lo]:.0f}% "
            f"with {lo} thinking tokens -> {100 * s.accuracy[hi]:.0f}% with {hi} "
            f"({s.rise_points:+.0f} points)"
        )
    console.print(f"demo folder: {result.folder}  ({result.wall_time_s:.0f} s)", markup=False)
    for path in result.logs:
        console.print(f"log:         {path}", markup=False)
    for name in ("report.html", "scaling.png", "training_curves.png"):
        if name in result.report_files:
            console.print(f"{name + ':':<12} {result.report_files[name]}", markup=False)
    if result.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command()(demo)
