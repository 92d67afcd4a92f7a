"""report.md: the report's tables as GitHub-flavoured Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from s1slurm.report.metrics import UNITS
from s1slurm.report.text import (accuracy_ci, budget_text, control_text, issue_lines, maj_text, num,
                                 signed)

if TYPE_CHECKING:
    from s1slurm.report.build import ReportResult


def md(value: object) -> str:
    """A table cell: pipes, angle brackets and line breaks cannot break the table or inject HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(result: "ReportResult") -> str:
    """The whole report.md text."""
    r = result
    out = ["# s1slurm evaluation report", ""]
    if r.partial:
        out += ["> **PARTIAL REPORT**: some records are missing, duplicated or malformed, or some "
                "shards have not finished. The numbers below cover only the records present.", ""]
    out += ["## Data problems", ""]
    listing = issue_lines(r.issues)
    if not listing:
        out += ["None: every planned record of every shard is present once, and every line parsed.", ""]
    for heading, lines in listing:
        out.append(f"- **{md(heading)}**")
        out += [f"  - {md(line)}" for line in lines]
    out.append("")
    out += ["## Runs", ""]
    out += table(["run", "model", "engine", "s1slurm version", "shards", "folder"],
                 [(i.run, i.model or "?", i.engine or "?", i.version or "?", len(i.shard_ids), i.path)
                  for i in r.runs])
    out += [f"{r.records:,} records merged; models: {', '.join(r.models) or '?'}; "
            f"engines: {', '.join(r.engines) or '?'}.", ""]
    out += ["## Test-time scaling: Control, Scaling, Performance", ""]
    out += [f"- Control: {UNITS['control']}.",
            f"- Scaling (log2): {UNITS['scaling_log2']} (average slope over all pairs of settings).",
            f"- Scaling (raw): {UNITS['scaling_raw']}.",
            f"- Performance: {UNITS['performance']}.",
            "- n/a: fewer than two settings with different average thinking tokens.", ""]
    out += table(["benchmark", "method", "settings", "Control %", "Scaling (pp / doubling)",
                  "Scaling (pp / 1k tokens)", "Performance % (setting)"],
                 [(c.benchmark, c.method, len(c.settings), control_text(c), signed(c.scaling_log2),
                   signed(c.scaling_raw), f"{c.performance:.1f} ({c.performance_setting})")
                  for c in r.methods])
    left_out = [f"{c.benchmark}/{c.method}: {', '.join(c.left_out_of_log)}" for c in r.methods
                if c.left_out_of_log]
    if left_out:
        out += ["Settings with 0 average thinking tokens are left out of the log2 slope and the plot: "
                + "; ".join(left_out) + ".", ""]
    rows = r.reference_rows()
    if r.reference is not None:
        out += [f"## Reference: {r.reference.name}", "", f"Published figures ({r.reference.source}), "
                "accuracy %, next to the best accuracy of this report.", ""]
        out += table(["benchmark", "paper benchmark", f"{r.reference.name} with budget forcing",
                      f"{r.reference.name} without", "this report: best % (setting)"],
                     [(x["benchmark"], x["paper_benchmark"] or "no published figure",
                       num(x["with_budget_forcing"]), num(x["without_budget_forcing"]),
                       f"{x['best_accuracy']:.1f} ({x['best_method']} {x['best_setting']})")
                      for x in rows])
    out += ["## Accuracy and thinking per setting", "",
            f"Accuracy: {UNITS['accuracy']}, with the {UNITS['ci']}. maj@k: majority vote over the k "
            "samples of each question. Over max / under min: samples whose thinking tokens exceed the "
            "setting's maximum or fall short of its minimum. In control: the average thinking tokens "
            "lie within the budget [min, max].", ""]
    for bench in r.benchmarks:
        out += [f"### {md(bench)}", ""]
        out += table(["method", "setting", "budget [min, max]", "questions", "samples / question",
                      "accuracy % [95% CI]", "maj@k %", "avg thinking tokens", "cut by budget %",
                      "forced continuations (avg)", "over max", "under min", "in control",
                      "ungraded"],
                     [(m.method, m.setting, budget_text(m), m.questions,
                       m.samples_per_question if m.samples_uniform else f"≤{m.samples_per_question}",
                       accuracy_ci(m), maj_text(m), num(m.avg_thinking_tokens), num(m.cut_share),
                       num(m.avg_forced_continuations, 2), m.over_max, m.under_min,
                       "yes" if m.in_control else "**no**", m.ungraded)
                      for m in r.settings if m.benchmark == bench])
    out += ["## Plot", "", "![accuracy against average thinking tokens](scaling.png)", "",
            "Error bars: 95% bootstrap interval. Also in scaling.svg and report.html.", "",
            "---", f"s1slurm {r.version}, created {r.created}. All numbers are in report.json.", ""]
    return "\n".join(out)
