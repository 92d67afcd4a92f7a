"""Formatting shared by the Markdown, HTML and terminal outputs: numbers, and the issue listing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from s1slurm.report.collect import Issues

if TYPE_CHECKING:
    from s1slurm.report.metrics import MethodMetrics, SettingMetrics

NA = "n/a"
_CHOICE = re.compile(r"^[A-Za-z]$")


def num(x: float | int | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals, or n/a."""
    if x is None:
        return NA
    return f"{x:,.{digits}f}"


def signed(x: float | None, digits: int = 2) -> str:
    return NA if x is None else f"{x:+,.{digits}f}"


def accuracy_ci(m: SettingMetrics) -> str:
    return f"{m.accuracy:.1f} [{m.ci_low:.1f}, {m.ci_high:.1f}]"


def budget_text(m: SettingMetrics) -> str:
    hi = "∞" if m.max_thinking_tokens is None else f"{m.max_thinking_tokens:,}"
    return f"[{m.min_thinking_tokens:,}, {hi}]"


def maj_text(m: SettingMetrics) -> str:
    if m.maj_accuracy is None:
        return NA
    return f"{m.maj_accuracy:.1f} (k={m.maj_k})"


def control_text(c: MethodMetrics) -> str:
    return f"{c.control:.1f} ({c.settings_in_control}/{len(c.settings)})"


def is_redacted(benchmark: str) -> bool:
    """GPQA texts (questions, thinking, answers) never appear in any output."""
    return benchmark.lower().startswith("gpqa")


def shown_answer(benchmark: str, value: str | None) -> str:
    """An answer as it may appear in outputs: for GPQA only a choice letter, never option text."""
    if value is None:
        return "—"
    if is_redacted(benchmark) and not _CHOICE.match(value.strip()):
        return "[redacted]"
    return value


def issue_lines(issues: Issues, cap: int = 20) -> list[tuple[str, list[str]]]:
    """The issue listing: (heading, up to ``cap`` lines) per kind of problem, empty when complete."""
    out: list[tuple[str, list[str]]] = []

    def add(heading: str, lines: list[str], total: int) -> None:
        shown = lines[:cap]
        if total > len(shown):
            shown.append(f"... and {total - len(shown)} more (report.json lists up to {min(total, 1000)})")
        out.append((heading, shown))

    i = issues
    if i.shards_not_done:
        add(
            f"{len(i.shards_not_done)} shard(s) without a done marker",
            [f"{s['run']} / {s['shard']} (records file {s['records_file']})" for s in i.shards_not_done],
            len(i.shards_not_done),
        )
    if i.shards_without_records:
        add(
            f"{len(i.shards_without_records)} done shard(s) without a records file",
            [f"{s['run']} / {s['shard']}" for s in i.shards_without_records],
            len(i.shards_without_records),
        )
    if i.missing_total:
        per_q = i.missing_questions()
        lines = [
            f"{q['benchmark']} / {q['question_id']}: "
            + ("no records at all" if q["absent"] else "")
            + ("; " if q["absent"] else "")
            + f"{q['missing_records']} record(s) missing over {q['settings']} setting(s)"
            for q in per_q
        ]
        add(
            f"{i.missing_total} expected record(s) missing (questions × settings × samples of the plan), "
            f"in {len(per_q)} question(s)",
            lines,
            len(per_q),
        )
    if i.duplicates_total:
        add(
            f"{i.duplicates_total} duplicate record(s) (the first copy is kept)",
            [
                f"{d['benchmark']} / {d['setting']} / {d['question_id']} / sample {d['sample_index']} "
                f"at {d['at']} (first at {d['first_at']})"
                for d in i.duplicates
            ],
            i.duplicates_total,
        )
    if i.malformed_total:
        add(
            f"{i.malformed_total} malformed line(s) (skipped)",
            [f"{m['file']}:{m['line']}: {m['error']}" for m in i.malformed],
            i.malformed_total,
        )
    if i.warnings:
        add(f"{len(i.warnings)} warning(s)", list(i.warnings), len(i.warnings))
    return out


def interval(ci: tuple[float, float] | list[float] | None, digits: int = 1, signed_: bool = False) -> str:
    """``[lo, hi]`` of a bootstrap interval, or n/a."""
    if ci is None:
        return NA
    f = signed if signed_ else num
    return f"[{f(ci[0], digits)}, {f(ci[1], digits)}]"


def with_interval(
    value: float | None, ci: tuple[float, float] | None, digits: int = 1, signed_: bool = False
) -> str:
    """A value followed by its interval: ``+3.10 [-1.20, +7.00]``."""
    shown = signed(value, digits) if signed_ else num(value, digits)
    return shown if value is None else f"{shown} {interval(ci, digits, signed_)}"


def curve_text(ks: list[int], values: list[float]) -> str:
    """``k=1: 20.0, k=2: 35.0`` (n/a without samples)."""
    return ", ".join(f"k={k}: {v:.1f}" for k, v in zip(ks, values)) or NA


def neighbour_text(n: dict) -> str:
    """``max=64 -> max=128: +5.0 pp [-2.5, +12.5]``."""
    return (
        f"{n['from']} → {n['to']}: {n['difference']:+.1f} pp [{n['ci_low']:+.1f}, {n['ci_high']:+.1f}]"
        f" (n={n['questions']}, resamples not better: {100 * n['share_not_better']:.0f}%)"
    )


def run_line(description: dict) -> str:
    """One line about what ran: engine and version, dtype, TP size, batch size, determinism."""
    d = description
    inv = {True: "batch-invariant kernels", False: "kernels not batch-invariant", None: "determinism unknown"}
    return (
        f"{d.get('engine') or '?'} ({d.get('engine_version') or 'version unknown'}), "
        f"dtype {d.get('dtype') or '?'}, tensor parallel {d.get('tensor_parallel_size') or '?'}, "
        f"batch {d.get('batch_size') or '?'}, {inv.get(d.get('batch_invariant'), '?')}"
    )
