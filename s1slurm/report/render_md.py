"""report.md: the report's tables as GitHub-flavoured Markdown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from s1slurm.report.metrics import UNITS
from s1slurm.report.reference_md import reference_card_md
from s1slurm.report.text import (
    accuracy_ci,
    budget_text,
    control_text,
    curve_text,
    interval,
    issue_lines,
    maj_text,
    neighbour_text,
    num,
    run_line,
    with_interval,
)

if TYPE_CHECKING:
    from s1slurm.report.types import ReportResult


def md(value: object) -> str:
    """A table cell: pipes, angle brackets and line breaks cannot break the table or inject HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(result: ReportResult) -> str:
    """The whole report.md text."""
    r = result
    out = ["# s1slurm evaluation report", ""]
    if r.partial:
        out += [
            "> **PARTIAL REPORT**: some records are missing, duplicated or malformed, or some "
            "shards have not finished. The numbers below cover only the records present.",
            "",
        ]
    out += ["## Data problems", ""]
    listing = issue_lines(r.issues)
    if not listing:
        out += ["None: every planned record of every shard is present once, and every line parsed.", ""]
    for heading, lines in listing:
        out.append(f"- **{md(heading)}**")
        out += [f"  - {md(line)}" for line in lines]
    out.append("")
    out += ["## Runs", ""]
    out += table(
        ["run", "model", "what ran", "s1slurm version", "shards", "folder"],
        [
            (i.run, i.model or "?", run_line(i.description), i.version or "?", len(i.shard_ids), i.path)
            for i in r.runs
        ],
    )
    if r.run_differences():
        out += [
            f"> **The merged runs differ in {', '.join(r.run_differences())}**: their numbers may "
            "not be comparable.",
            "",
        ]
    out += [
        f"{r.records:,} records merged; models: {', '.join(r.models) or '?'}; "
        f"engines: {', '.join(r.engines) or '?'}.",
        "",
    ]
    for t in r.training:
        loss = f", last loss {t['last_loss']:.4g}" if isinstance(t["last_loss"], (int, float)) else ""
        curves = f"; training curves: [{t['link']}]({t['link']})" if t["link"] else ""
        out += [f"Trained by the run in {md(t['folder'])}: {t['steps']} steps{loss}{curves}.", ""]
    out += ["## Test-time scaling: Control, Scaling, Performance", ""]
    out += [
        f"- Control: {UNITS['control']}.",
        f"- Scaling (log2): {UNITS['scaling_log2']} (average slope over all pairs of settings).",
        f"- Scaling (raw): {UNITS['scaling_raw']}.",
        f"- Performance: {UNITS['performance']}.",
        "- n/a: fewer than two settings with different average thinking tokens.",
        "",
    ]
    out += ["Brackets: 95% bootstrap intervals over the questions common to the method's settings.", ""]
    out += table(
        [
            "benchmark",
            "method",
            "settings",
            "Control % [CI]",
            "Scaling (pp / doubling) [CI]",
            "Scaling (pp / 1k tokens) [CI]",
            "Performance % [CI] (setting)",
        ],
        [
            (
                c.benchmark,
                c.method,
                len(c.settings),
                f"{control_text(c)} {interval(c.control_ci)}",
                with_interval(c.scaling_log2, c.scaling_log2_ci, 2, True),
                with_interval(c.scaling_raw, c.scaling_raw_ci, 2, True),
                f"{c.performance:.1f} {interval(c.performance_ci)} ({c.performance_setting})",
            )
            for c in r.methods
        ],
    )
    steps = [(c.benchmark, c.method, neighbour_text(n)) for c in r.methods for n in c.neighbours]
    if steps:
        out += [
            "### Does more thinking help? Neighbouring settings",
            "",
            f'{UNITS["neighbour"]}. "resamples not better": share of bootstrap resamples where the '
            "difference is ≤ 0.",
            "",
        ]
        out += table(["benchmark", "method", "difference"], steps)
    left_out = [
        f"{c.benchmark}/{c.method}: {', '.join(c.left_out_of_log)}" for c in r.methods if c.left_out_of_log
    ]
    if left_out:
        out += [
            "Settings with 0 average thinking tokens are left out of the log2 slope (the plot shows them at 0): "
            + "; ".join(left_out)
            + ".",
            "",
        ]
    rows = r.reference_rows()
    if r.reference is not None:
        named = r.reference_setting or "no setting named (add @SETTING to --reference)"
        out += [
            f"## Reference: {r.reference.name}",
            "",
            f"Published figures ({r.reference.source}, Table 1, "
            "which ties them to no setting; the reproduction card below compares setting by setting), "
            f"accuracy %, next to this report at named settings: with budget forcing at {named}; "
            "without at max=none.",
            "",
        ]
        out += table(
            [
                "benchmark",
                "paper benchmark",
                f"{r.reference.name} with budget forcing",
                "this report at the named setting",
                f"{r.reference.name} without",
                "this report at max=none",
            ],
            [
                (
                    x["benchmark"],
                    x["paper_benchmark"] or "no published figure",
                    num(x["with_budget_forcing"]),
                    f"{num(x['accuracy'])} {interval(x['ci'])}" if x["accuracy"] is not None else "n/a",
                    num(x["without_budget_forcing"]),
                    num(x["without_accuracy"]),
                )
                for x in rows
            ],
        )
    if r.reference is not None:
        out += reference_card_md(r, table)
    out += [
        "## Accuracy and thinking per setting",
        "",
        f"Accuracy: {UNITS['accuracy']}, with the {UNITS['ci']}. maj@k: majority vote over the k "
        "samples of each question. Over max / under min: samples whose thinking tokens exceed the "
        "setting's maximum or fall short of its minimum. In control: the average thinking tokens "
        "lie within the budget [min, max].",
        "",
    ]
    for bench in r.benchmarks:
        out += [f"### {md(bench)}", ""]
        out += table(
            [
                "method",
                "setting",
                "budget [min, max]",
                "questions",
                "samples / question",
                "accuracy % [95% CI]",
                "maj@k %",
                "avg thinking tokens",
                "cut by budget %",
                "forced continuations (avg)",
                "over max",
                "under min",
                "in control",
                "ungraded",
            ],
            [
                (
                    m.method,
                    m.setting,
                    budget_text(m),
                    m.questions,
                    m.samples_per_question if m.samples_uniform else f"≤{m.samples_per_question}",
                    accuracy_ci(m),
                    maj_text(m),
                    num(m.avg_thinking_tokens),
                    num(m.cut_share),
                    num(m.avg_forced_continuations, 2),
                    m.over_max,
                    m.under_min,
                    "yes" if m.in_control else "**no**",
                    m.ungraded,
                )
                for m in r.settings
                if m.benchmark == bench
            ],
        )
    out += [
        "## pass@k and maj@k over k",
        "",
        f"pass@k: {UNITS['pass_at_k']}. maj@k: {UNITS['maj_at_k']}.",
        "",
    ]
    for bench in r.benchmarks:
        out += [f"### {md(bench)}", ""]
        out += table(
            ["method", "setting", "pass@k %", "maj@k %"],
            [
                (m.method, m.setting, curve_text(m.ks, m.pass_at_k), curve_text(m.ks, m.maj_at_k))
                for m in r.settings
                if m.benchmark == bench
            ],
        )
    out += [
        "## Plots",
        "",
        "![accuracy against average thinking tokens](scaling.png)",
        "",
        "Error bars: 95% bootstrap interval. Also in scaling.svg and report.html.",
        "",
        "![pass@k and maj@k over k](curves_k.png)",
        "",
        "---",
        f"s1slurm {r.version}, created {r.created}. All numbers are in report.json.",
        "",
    ]
    return "\n".join(out)
