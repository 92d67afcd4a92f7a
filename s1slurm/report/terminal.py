"""The report in the terminal: rich tables of the methods and of every setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from s1slurm.report.text import (accuracy_ci, budget_text, control_text, issue_lines, maj_text, num,
                                 signed)

if TYPE_CHECKING:
    from s1slurm.report.build import ReportResult


def render_terminal(result: "ReportResult", console: Console | None = None, cap: int = 10) -> None:
    """Print the data problems (at most ``cap`` lines per kind), the tables and where the files are."""
    console = console or Console()
    r = result
    if r.partial:
        console.print("[bold white on red] PARTIAL REPORT [/] some data is missing, duplicated or "
                      "malformed; the numbers cover only the records present.")
    for heading, lines in issue_lines(r.issues, cap=cap):
        console.print(f"[bold yellow]{escape(heading)}[/]")
        for line in lines:
            console.print(f"  {escape(line)}", soft_wrap=True)
    methods = Table(title="Test-time scaling per benchmark and method", title_justify="left")
    for col, just in (("benchmark", "left"), ("method", "left"), ("settings", "right"),
                      ("Control %", "right"), ("Scaling pp/doubling", "right"),
                      ("Scaling pp/1k tok", "right"), ("Performance % (setting)", "left")):
        methods.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in r.methods:
        methods.add_row(escape(c.benchmark), escape(c.method), str(len(c.settings)), control_text(c),
                        signed(c.scaling_log2), signed(c.scaling_raw),
                        escape(f"{c.performance:.1f} ({c.performance_setting})"))
    console.print(methods)
    ref = {x["benchmark"]: x for x in r.reference_rows()}
    settings = Table(title="Accuracy and thinking per setting (accuracy %, 95% bootstrap interval)",
                     title_justify="left")
    cols = ["benchmark", "method", "setting", "budget", "acc % [95% CI]", "maj@k %", "avg think tok",
            "cut %", "forced", "over max", "in ctrl"]
    for col in cols:
        settings.add_column(col, justify="left" if col in cols[:4] else "right")
    for m in r.settings:
        settings.add_row(escape(m.benchmark), escape(m.method), escape(m.setting), budget_text(m),
                         accuracy_ci(m), maj_text(m), num(m.avg_thinking_tokens), num(m.cut_share),
                         num(m.avg_forced_continuations, 2), str(m.over_max),
                         "yes" if m.in_control else "[red]no[/]")
    console.print(settings)
    if r.reference is not None:
        table = Table(title=f"Reference: {r.reference.name} (published, accuracy %)", title_justify="left")
        for col in ("benchmark", "with budget forcing", "without", "this report: best"):
            table.add_column(col)
        for bench, x in ref.items():
            table.add_row(escape(bench), num(x["with_budget_forcing"]), num(x["without_budget_forcing"]),
                          escape(f"{x['best_accuracy']:.1f} ({x['best_setting']})"))
        console.print(table)
    if r.files:
        console.print("written: " + ", ".join(escape(str(p)) for p in r.files.values()), soft_wrap=True)
