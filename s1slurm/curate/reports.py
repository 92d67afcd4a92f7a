"""Reports a person can audit: the contamination report and the selection report, each as JSON,
Markdown and a rich table. GPQA texts arrive here already replaced by ``[redacted]``."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.table_fit import FittedTable
from s1slurm.curate.decontaminate import Decontaminated


def _cell(text: Any, limit: int = 300) -> str:
    """Text for one Markdown table cell: one line, pipes escaped, long texts cut."""
    s = " ".join(str(text if text is not None else "").split()).replace("|", "\\|")
    return s if len(s) <= limit else s[:limit] + " ..."


def contamination_report(
    dec: Decontaminated, rows_in: int, *, ngram: int, with_answer: bool, dataset: str
) -> dict[str, Any]:
    per = {label: {"items": n, "pool_matches": 0, "items_matched": 0} for label, n in dec.benchmarks.items()}
    items: dict[str, set[str]] = {label: set() for label in dec.benchmarks}
    for m in dec.matches:
        per[m["benchmark"]]["pool_matches"] += 1
        items[m["benchmark"]].add(m["item_id"])
    for label in per:
        per[label]["items_matched"] = len(items[label])
    return {
        "dataset": dataset,
        "rows_in": rows_in,
        "rows_out": len(dec.rows),
        "ngram": ngram,
        "with_answer": with_answer,
        "benchmarks": per,
        "matches": dec.matches,
        "near_duplicates": {
            "removed": sum(len(v) for v in dec.clusters.values()),
            "clusters": [{"kept": k, "removed": v} for k, v in sorted(dec.clusters.items())],
        },
    }


def contamination_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Contamination report: {report['dataset']}",
        "",
        f"{report['rows_in']} rows in, {report['rows_out']} rows out; word {report['ngram']}-grams of the "
        f"lower-cased, white-space-collapsed question{' + answer' if report['with_answer'] else ''}.",
        "",
        "| benchmark | items | pool questions matched | items matched |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {b} | {v['items']} | {v['pool_matches']} | {v['items_matched']} |"
        for b, v in report["benchmarks"].items()
    ]
    lines += [
        "",
        "## Matches",
        "",
        "| pool id | benchmark item | matching n-gram | pool question | benchmark question |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {_cell(m['id'])} | {_cell(m['benchmark'])} {_cell(m['item_id'])} | {_cell(m['ngram'])} | "
        f"{_cell(m['question'])} | {_cell(m['benchmark_text'])} |"
        for m in report["matches"]
    ]
    nd = report["near_duplicates"]
    lines += [
        "",
        f"## Near-duplicate clusters ({nd['removed']} rows removed)",
        "",
        "| kept | removed |",
        "| --- | --- |",
    ]
    lines += [f"| {_cell(c['kept'])} | {_cell(', '.join(c['removed']))} |" for c in nd["clusters"]]
    return "\n".join(lines) + "\n"


def contamination_table(report: dict[str, Any]) -> FittedTable:
    table = FittedTable(
        title=f"contamination: {report['rows_in']} in, {report['rows_out']} out "
        f"({report['near_duplicates']['removed']} near-duplicates)"
    )
    for col in ("benchmark", "items", "pool matched", "items matched"):  # long names fold, never cut
        table.add_column(col, justify="left" if col == "benchmark" else "right", wrap=True, min_width=6)
    for b, v in report["benchmarks"].items():
        table.add_row(b, str(v["items"]), str(v["pool_matches"]), str(v["items_matched"]))
    return table


def length_stats(lengths: Iterable[int]) -> dict[str, float]:
    values = sorted(lengths)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min": values[0],
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": values[-1],
    }


def selection_report(
    steps: list[dict[str, Any]],
    funnel: list[dict[str, Any]],
    before: Iterable[Any],
    after: Iterable[Any],
    strategy: str,
    seed: int,
    n: int,
) -> dict[str, Any]:
    """``steps``: per pipeline step rows in/out and reasons; ``before``/``after``: candidates."""
    before, after = list(before), list(after)
    return {
        "strategy": strategy,
        "seed": seed,
        "n": n,
        "steps": steps,
        "select_filters": funnel,
        "domains_before": dict(Counter(c.domain for c in before).most_common()),
        "domains_after": dict(Counter(c.domain for c in after).most_common()),
        "sources_before": dict(Counter(c.source for c in before).most_common()),
        "sources_after": dict(Counter(c.source for c in after).most_common()),
        "trace_tokens_before": length_stats(c.length for c in before),
        "trace_tokens_after": length_stats(c.length for c in after),
    }


def selection_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Selection report (strategy {report['strategy']}, seed {report['seed']}, n {report['n']})",
        "",
        "| step | rows in | rows out | reasons |",
        "| --- | ---: | ---: | --- |",
    ]
    for s in report["steps"] + [{"step": f"select: {f['filter']}", **f} for f in report["select_filters"]]:
        reasons = ", ".join(f"{k} {v}" for k, v in s.get("reasons", {}).items())
        lines.append(f"| {s.get('step')} | {s.get('in', '')} | {s.get('out', '')} | {reasons} |")
    lines += ["", "## Domains", "", "| domain | before | after |", "| --- | ---: | ---: |"]
    for d, v in report["domains_before"].items():
        lines.append(f"| {_cell(d)} | {v} | {report['domains_after'].get(d, 0)} |")
    lines += ["", "## Sources", "", "| source | before | after |", "| --- | ---: | ---: |"]
    for src, v in report.get("sources_before", {}).items():
        lines.append(f"| {_cell(src)} | {v} | {report['sources_after'].get(src, 0)} |")
    lines += [
        "",
        "## Trace length (target tokenizer tokens)",
        "",
        "| | count | min | median | mean | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("before", "after"):
        st = report[f"trace_tokens_{name}"]
        lines.append(
            f"| {name} | "
            + " | ".join(str(st.get(k, "")) for k in ("count", "min", "median", "mean", "max"))
            + " |"
        )
    return "\n".join(lines) + "\n"


def selection_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"selection ({report['strategy']}, seed {report['seed']})")
    for col in ("step", "in", "out", "reasons"):
        table.add_column(col, justify="right" if col in ("in", "out") else "left")
    for s in report["steps"] + [{"step": f"select: {f['filter']}", **f} for f in report["select_filters"]]:
        table.add_row(
            str(s.get("step")),
            str(s.get("in", "")),
            str(s.get("out", "")),
            ", ".join(f"{k} {v}" for k, v in s.get("reasons", {}).items()),
        )
    return table


def table_text(table: RenderableType, width: int = 110) -> str:
    """A rich table as plain text (for task logs and ``<name>.txt`` next to the report)."""
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue()


def write_report(folder: Path, name: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """``<name>.json`` and ``<name>.md`` in ``folder``, atomically."""
    json_path, md_path = Path(folder) / f"{name}.json", Path(folder) / f"{name}.md"
    atomic_write_json(json_path, report)
    atomic_write_text(md_path, markdown)
    return json_path, md_path
