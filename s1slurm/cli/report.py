"""``s1slurm report``: merge evaluation records into scaling curves and a report folder."""

from __future__ import annotations

from pathlib import Path

import typer

from s1slurm.cli.common import console as make_console


def report(
    run_dirs: list[Path] = typer.Argument(..., help="one or more evaluation run folders"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: reports/<run name>)"),
    strict: bool = typer.Option(False, "--strict", help="exit non-zero when the report is partial"),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="compare with published figures at a named setting: s1-32b or 's1-32b@ignore=2,max=none'",
    ),
    tokens: str | None = typer.Option(
        None,
        "--tokens",
        help="thinking-token count on the axis: generated (ids) or s1 "
        "(re-tokenized, as s1 counts; the default with --reference)",
    ),
) -> None:
    """Merge evaluation records into scaling curves with Control, Scaling and Performance."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.report import build_report, default_out_dir, render_terminal
    from s1slurm.report.build import PartialReportError

    console = make_console()
    with console.status("merging records and writing the report"):
        try:
            result = build_report(
                run_dirs, out or default_out_dir(run_dirs), strict=strict, reference=reference, tokens=tokens
            )
        except PartialReportError as e:  # --strict on a partial report: show it, then fail
            render_terminal(e.result, console)
            raise
    render_terminal(result, console)
    for path in result.files.values():
        console.print(f"wrote {path}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command()(report)
