"""The report in the terminal: rich tables of the methods and of every setting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape

from s1slurm.core.table_fit import FittedTable
from s1slurm.report.reference import card_rows
from s1slurm.report.text import (
    accuracy_ci,
    control_text,
    curve_text,
    interval,
    issue_lines,
    neighbour_text,
    num,
    run_line,
    signed,
)

if TYPE_CHECKING:
    from s1slurm.report.types import ReportResult

# How the tables give way in a narrow terminal: intervals leave first, then the per-1k scaling; the
# setting of the performance figure moves under the table; names and the paper's numbers stay whole.
_METHOD_COLUMNS: dict[str, dict[str, Any]] = {
    "benchmark": {},
    "method": {},
    "Control %": {},
    "[CI]": {"priority": 1},
    "Scaling ×2": {"wrap": True, "min_width": 7},
    "[CI] ": {"priority": 2},
    "Scaling 1k": {"priority": 4, "wrap": True, "min_width": 7},
    "Perf. %": {"wrap": True, "min_width": 6},
    "[CI]  ": {"priority": 3},
    "at": {"priority": 5, "stack": True},
}
_SETTING_COLUMNS: dict[str, dict[str, Any]] = {
    "method": {},
    "setting": {},
    "acc % [CI]": {},
    "maj@k": {"priority": 3},
    "think": {},
    "cut %": {"priority": 4},
    "forced": {"priority": 1},
    "over": {"priority": 2},
    "ok": {"priority": 5},
}


def render_terminal(result: ReportResult, console: Console | None = None, cap: int = 10) -> None:
    """Print the data problems (at most ``cap`` lines per kind) and the tables (not the file list)."""
    console = console or Console()
    r = result
    if r.partial:
        console.print(
            "[bold white on red] PARTIAL REPORT [/] some data is missing, duplicated or "
            "malformed; the numbers cover only the records present."
        )
    for heading, lines in issue_lines(r.issues, cap=cap):
        console.print(f"[bold yellow]{escape(heading)}[/]")
        for line in lines:
            console.print(f"  {escape(line)}", soft_wrap=True)
    for info in r.runs:
        console.print(
            f"[bold]{escape(info.run)}[/]: {escape(info.model or '?')} on "
            f"{escape(run_line(info.description))}",
            soft_wrap=False,
        )
    if r.run_differences():
        console.print(
            f"[bold red]The merged runs differ in {escape(', '.join(r.run_differences()))}[/]: "
            "their numbers may not be comparable."
        )
    methods = FittedTable(
        title="Test-time scaling (Control %: settings within budget; Scaling: pp of "
        "accuracy per doubling / per 1k thinking tokens)",
        title_justify="left",
        key=(0, 1),
    )
    for col, fit in _METHOD_COLUMNS.items():
        methods.add_column(col, justify="left" if col in ("benchmark", "method", "at") else "right", **fit)
    for c in r.methods:
        methods.add_row(
            escape(c.benchmark),
            escape(c.method),
            control_text(c),
            interval(c.control_ci),
            signed(c.scaling_log2),
            escape(interval(c.scaling_log2_ci, 2, True)),
            signed(c.scaling_raw),
            f"{c.performance:.1f}",
            interval(c.performance_ci),
            escape(c.performance_setting),
        )
    console.print(methods)
    for c in r.methods:
        for n in c.neighbours:
            console.print(
                f"  {escape(c.benchmark)} {escape(c.method)}: {escape(neighbour_text(n))}", soft_wrap=False
            )  # no paths: wrap at words
    ref = {x["benchmark"]: x for x in r.reference_rows()}
    for bench in r.benchmarks:
        table = FittedTable(
            title=f"{escape(bench)}: accuracy % [95% bootstrap interval], average thinking "
            "tokens, % cut by the budget, maj@k %, forced continuations per sample, samples over "
            "the max, average within budget",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            collapse_padding=True,
            pad_edge=False,
            key=(0, 1),
        )
        for col, fit in _SETTING_COLUMNS.items():
            table.add_column(col, justify="left" if col in ("method", "setting") else "right", **fit)
        for m in r.settings:
            if m.benchmark == bench:
                table.add_row(
                    escape(m.method),
                    escape(m.setting),
                    accuracy_ci(m),
                    num(m.maj_accuracy),
                    num(m.avg_thinking_tokens, 0),
                    num(m.cut_share),
                    num(m.avg_forced_continuations, 2),
                    str(m.over_max),
                    "yes" if m.in_control else "[red]no[/]",
                )
        console.print(table)
        for m in r.settings:
            if m.benchmark == bench and m.ks and m.ks[-1] > 1:
                console.print(
                    f"  {escape(m.setting)} pass@k: {curve_text(m.ks, m.pass_at_k)}; "
                    f"maj@k: {curve_text(m.ks, m.maj_at_k)}",
                    soft_wrap=False,
                )
    if r.reference is not None:
        table = FittedTable(
            title=f"Reference: {r.reference.name} (published, accuracy %)", title_justify="left"
        )
        for col in (
            "benchmark",
            "with budget forcing",
            f"here at {r.reference_setting or '(none named)'}",
            "without",
            "here at max=none",
        ):
            table.add_column(escape(col), wrap=True, min_width=9)  # long headers wrap; the numbers are short
        for bench, x in ref.items():
            table.add_row(
                escape(bench),
                num(x["with_budget_forcing"]),
                num(x["accuracy"]),
                num(x["without_budget_forcing"]),
                num(x["without_accuracy"]),
            )
        console.print(table)
        _print_card(r, console)


def _print_card(r: ReportResult, console: Console) -> None:
    """The reproduction card's figures measured here: published beside measured, with the 95%
    interval and a mark where the published figure falls outside it (report.md lists the rest)."""
    assert r.reference is not None
    rows = [
        x
        for x in card_rows(r.reference, r.settings, r.setting_extras)
        if x["measured"] is not None and x["published"] is not None
    ]
    if not rows:
        console.print(f"reproduction card {escape(r.reference.name)}: no published figure at these settings")
        return
    table = FittedTable(
        title=f"Reproduction card: {escape(r.reference.name)} (published beside measured; report.md lists "
        "the figures not measured here)",
        title_justify="left",
        key=(1, 2),
    )
    for col, fit in _CARD_COLUMNS.items():
        table.add_column(col, justify="right" if col in ("published", "measured") else "left", **fit)
    for x in rows:
        outside = x["outside"]
        table.add_row(
            escape(x["source"]),
            escape(x["benchmark"]),
            escape(x["setting"] or "-"),
            escape(x["metric"]),
            num(x["published"], 0 if x["metric"] == "thinking_tokens" else 1),
            num(x["measured"], 0 if x["metric"] == "thinking_tokens" else 1),
            interval(x["ci"]) if x["ci"] is not None else "",
            "" if outside is None else ("[red]outside[/]" if outside else "inside"),
        )
    console.print(table)


_CARD_COLUMNS: dict[str, dict[str, Any]] = {
    "source": {"priority": 1, "wrap": True, "min_width": 8},
    "benchmark": {},
    "setting": {"wrap": True, "min_width": 10},
    "metric": {"wrap": True, "min_width": 8},
    "published": {},
    "measured": {},
    "95% CI": {"priority": 2},
    "vs CI": {},
}
