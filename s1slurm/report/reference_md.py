"""The reproduction card's section of report.md: every published figure of the reference beside
this report's measurement (:func:`s1slurm.report.reference.card_rows`), and the paper's Table 3."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from s1slurm.eval.records import NOT_THE_PAPERS
from s1slurm.report.reference import card_rows, method_rows
from s1slurm.report.text import interval, num

if TYPE_CHECKING:
    from s1slurm.report.types import ReportResult

Table = Callable[[Sequence[str], Iterable[Sequence[object]]], list[str]]


def _measured(row: dict[str, Any]) -> str:
    if row["measured"] is None:
        if row["published"] is not None and row["setting"] is None:
            return "not tied to a setting by the paper"
        return "not measured here"
    text = num(row["measured"], 0 if row["metric"] == "thinking_tokens" else 1)
    if row["ci"] is not None:
        text += " " + interval(row["ci"])
    return text


def _mark(row: dict[str, Any]) -> str:
    if row["outside"] is None:
        return ""
    return "**outside the 95% interval**" if row["outside"] else "inside"


def reference_card_md(r: ReportResult, table: Table) -> list[str]:
    """Markdown lines: the card's figures measured here (and those not measured), then Table 3."""
    ref = r.reference
    if ref is None:
        return []
    rows = card_rows(ref, r.settings, r.setting_extras)
    measured = [x for x in rows if x["measured"] is not None and x["published"] is not None]
    unpublished = [x for x in rows if x["published"] is None]
    out = [
        f"## Reproduction card: {ref.name}",
        "",
        f"Every figure the paper publishes for these runs ({ref.source}), beside this report at the "
        "same benchmark and setting. Accuracy in %, with this report's 95% bootstrap interval; thinking "
        "tokens as s1 counts them (the decoded thinking re-tokenized, step delimiters left out).",
        "",
    ]
    out += table(
        [
            "source",
            "model",
            "benchmark",
            "setting",
            "metric",
            "published",
            "measured here",
            "published figure",
        ],
        [
            (
                x["source"],
                x["model"],
                x["benchmark"],
                x["setting"],
                x["metric"],
                num(x["published"]),
                _measured(x),
                _mark(x),
            )
            for x in measured
        ]
        or [("-", "-", "-", "-", "-", "-", "no setting of this report is published", "")],
    )
    if unpublished:
        out += [
            "Settings of this report with no published figure: "
            + ", ".join(
                f"{x['benchmark']} {x['setting']}"
                + (f" ({NOT_THE_PAPERS[x['method']]})" if x["method"] in NOT_THE_PAPERS else "")
                for x in unpublished
            )
            + ".",
            "",
        ]
    t3 = method_rows(ref, r.methods)
    out += [f"Table 3 of the paper beside this report. Scaling: {ref.scaling_unit}.", ""]
    out += table(
        [
            "method",
            "paper Control %",
            "here",
            "paper Scaling",
            "here",
            "paper Performance",
            "here",
            "paper runs |A|",
            "here",
        ],
        [
            (
                x["label"] + f" ({x['method']})",
                num(x["published"]["control"], 0),
                _num_ci(x, "control"),
                num(x["published"]["scaling"], 0),
                _num_ci(x, "scaling"),
                num(x["published"]["performance"]),
                _num_ci(x, "performance"),
                x["published"]["runs"],
                x["measured"]["runs"] if x["measured"] else "not run",
            )
            for x in t3
        ],
    )
    return out


def _num_ci(row: dict[str, Any], key: str) -> str:
    m = row["measured"]
    if m is None or m[key] is None:
        return "n/a"
    return f"{num(m[key])} {interval(m[key + '_ci'])}"
