"""report.html: one self-contained page (plot embedded, no network) with a per-question sample browser.

The page is rendered by jinja2 with autoescaping on, so every value from the records is escaped.
It never contains thinking or answer texts; GPQA answers appear only as choice letters.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from s1slurm.report import text
from s1slurm.report.collect import Records
from s1slurm.report.metrics import UNITS

if TYPE_CHECKING:
    from s1slurm.report.metrics import SettingMetrics
    from s1slurm.report.types import ReportResult

TEMPLATES = Path(__file__).parent / "templates"
MAX_SAMPLES_PER_ROW = 4  # samples listed per question and setting
MAX_SAMPLE_CELLS = 12_000  # samples listed on the whole page
MAX_ROWS = 4_000  # question x setting rows on the whole page
MAX_QUESTIONS = 2_000  # questions listed in the browser
_MARK = {1: "✓", 0: "✗", -1: "?"}
_CLASS = {1: "ok", 0: "bad", -1: "ung"}


@dataclass
class Browser:
    """What the sample browser shows, already capped."""

    questions: list[dict[str, Any]] = field(default_factory=list)
    total_questions: int = 0
    samples_per_row: int = MAX_SAMPLES_PER_ROW
    rows_shown: int = 0
    rows_total: int = 0
    questions_without_rows: int = 0


def build_browser(rec: Records, settings: list[SettingMetrics]) -> Browser:
    """Per question: accuracy, and per setting a few samples (length, ending, answers, correct)."""
    br = Browser()
    if len(rec) == 0:
        return br
    rank_of: dict[str, int] = {}
    for m in settings:
        rank_of.setdefault(m.setting, len(rank_of))
    srank = np.array([rank_of.get(label, len(rank_of)) for label in rec.settings.values], dtype=np.int64)
    order = np.lexsort((rec.sample, srank[rec.setting], rec.question, rec.benchmark))
    b, q, s = rec.benchmark[order], rec.question[order], rec.setting[order]
    tok, cut, ok, ex, smp = (
        rec.thinking_tokens[order],
        rec.cut[order],
        rec.correct[order],
        rec.extracted[order],
        rec.sample[order],
    )
    n = b.shape[0]
    new_q = np.r_[True, (b[1:] != b[:-1]) | (q[1:] != q[:-1])]
    new_row = new_q | np.r_[True, s[1:] != s[:-1]]
    q_starts = np.flatnonzero(new_q).tolist() + [n]
    row_starts = np.flatnonzero(new_row)
    br.total_questions = len(q_starts) - 1
    br.rows_total = int(row_starts.shape[0])
    br.samples_per_row = int(max(1, min(MAX_SAMPLES_PER_ROW, MAX_SAMPLE_CELLS // max(br.rows_total, 1))))
    row_ends = dict(zip(row_starts.tolist(), np.r_[row_starts[1:], n].tolist()))
    row_starts_l = row_starts.tolist()
    ri = 0
    ok_f = ok == 1
    for qa, qz in itertools.pairwise(q_starts):
        if len(br.questions) >= MAX_QUESTIONS:
            break
        bench = rec.benchmarks.values[int(b[qa])]
        qid = rec.questions.values[int(q[qa])]
        entry = {
            "benchmark": bench,
            "qid": qid,
            "records": qz - qa,
            "gold": text.shown_answer(bench, rec.gold.get((int(b[qa]), int(q[qa])))),
            "accuracy": 100.0 * float(ok_f[qa:qz].mean()),
            "rows": [],
            "settings": 0,
        }
        while ri < len(row_starts_l) and row_starts_l[ri] < qz:
            ra = row_starts_l[ri]
            rz = row_ends[ra]
            ri += 1
            entry["settings"] += 1
            if br.rows_shown >= MAX_ROWS:
                continue
            br.rows_shown += 1
            shown = min(rz - ra, br.samples_per_row)
            samples = [
                {
                    "i": int(smp[j]),
                    "tokens": int(tok[j]),
                    "end": "budget" if cut[j] else "natural",
                    "answer": text.shown_answer(bench, None if ex[j] < 0 else rec.answers.values[int(ex[j])]),
                    "mark": _MARK[int(ok[j])],
                    "cls": _CLASS[int(ok[j])],
                }
                for j in range(ra, ra + shown)
            ]
            entry["rows"].append(
                {
                    "setting": rec.settings.values[int(s[ra])],
                    "n": rz - ra,
                    "accuracy": 100.0 * float(ok_f[ra:rz].mean()),
                    "avg_tokens": float(tok[ra:rz].mean()),
                    "samples": samples,
                    "more": rz - ra - shown,
                }
            )
        if not entry["rows"]:
            br.questions_without_rows += 1
        br.questions.append(entry)
    return br


def render_html(result: ReportResult, svg: bytes, browser: Browser, k_svg: bytes = b"") -> str:
    """The whole report.html text (``svg``: the scaling plot; ``k_svg``: pass@k / maj@k curves)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=text.num, signed=text.signed)
    per_bench = {bench: [m for m in result.settings if m.benchmark == bench] for bench in result.benchmarks}
    return env.get_template("report.html.j2").render(
        r=result,
        issues=text.issue_lines(result.issues, cap=200),
        units=UNITS,
        plot_src="data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"),
        k_plot_src=("data:image/svg+xml;base64," + base64.b64encode(k_svg).decode("ascii")) if k_svg else "",
        run_line=text.run_line,
        interval=text.interval,
        with_interval=text.with_interval,
        curve_text=text.curve_text,
        neighbour_text=text.neighbour_text,
        per_bench=per_bench,
        browser=browser,
        limits={
            "samples_per_row": browser.samples_per_row,
            "max_rows": MAX_ROWS,
            "max_questions": MAX_QUESTIONS,
        },
        reference_rows=result.reference_rows(),
        accuracy_ci=text.accuracy_ci,
        budget_text=text.budget_text,
        maj_text=text.maj_text,
        control_text=text.control_text,
    )
