"""``report --reference s1-32b``: the paper's published figures beside the measured ones, with the
95% interval and a mark where the published figure falls outside it; the paper's Control rule for
class-conditional control; thinking tokens counted as s1 counts them."""

from __future__ import annotations

import io
import json

from rich.console import Console

from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report.build import build_report
from s1slurm.report.reference import get_reference, load_card
from s1slurm.report.terminal import render_terminal
from tests.report.report_runs import make_plan, record, write_run

QUESTIONS = [f"q{i}" for i in range(30)]  # AIME24 has 30 questions
BARE = BudgetSetting(None, method="max")
WAIT2 = BudgetSetting(None, num_ignore=2, method="ignore")
SHORT = BudgetSetting(None, thinking_class="short", method="class_conditional")
LONG = BudgetSetting(None, thinking_class="long", method="class_conditional")
STEPS = BudgetSetting(None, stated_steps=16, stop_at_zero=True, method="step_conditional_forced")
OWN = BudgetSetting(777, method="max")
REJECT = BudgetSetting(3500, method="rejection", temperature=1.0)
EXTRA = {STEPS.label: {"steps_used": 16}, REJECT.label: {"tries": 600, "accepted": True}}


def lines(setting: BudgetSetting, correct: int, generated: int, s1_count: int) -> list[str]:
    out = []
    for i, q in enumerate(QUESTIONS):
        d = json.loads(record("aime24", setting, q, 0, i < correct, generated))
        d["extra"] = {"s1_thinking_tokens": s1_count, **EXTRA.get(setting.label, {})}
        out.append(json.dumps(d))
    return out


def run_with_published_settings(tmp_path, settings_and_counts):
    settings = [s for s, *_ in settings_and_counts]
    plan = make_plan({"aime24": QUESTIONS}, settings, samples=1)
    shard = Shard("aime24", 0, 1)
    all_lines = [line for s, c, g, n in settings_and_counts for line in lines(s, c, g, n)]
    return write_run(tmp_path, "run", plan, {shard: all_lines})


def test_every_published_figure_of_a_measured_setting_is_shown_beside_the_measurement(tmp_path):
    run = run_with_published_settings(
        tmp_path,
        [
            (BARE, 15, 7000, 6000),
            (WAIT2, 9, 9000, 8500),
            (SHORT, 10, 9000, 8000),
            (LONG, 11, 9900, 9000),
            (STEPS, 7, 2000, 1500),
            (OWN, 3, 700, 650),
            (REJECT, 12, 3000, 2900),
        ],
    )
    result = build_report([run], tmp_path / "out", reference="s1-32b")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    card = data["reference"]["card"]
    at = {(r["source"], r["setting"], r["metric"]): r for r in card if r["measured"] is not None}
    bare = at[("Table 4", "max=none", "accuracy")]
    assert bare["published"] == 50.0 and bare["measured"] == 50.0 and bare["outside"] is False
    assert bare["ci"][0] <= 50.0 <= bare["ci"][1]
    wait = at[("Table 4", "ignore=2,max=none", "accuracy")]
    assert wait["published"] == 53.3 and wait["measured"] == 30.0 and wait["outside"] is True
    assert at[("Table 14", "max=none", "thinking_tokens")]["measured"] == 6000  # s1's count, not 7000
    assert at[("Table 13", "steps=16,stop0,max=none", "thinking_tokens")]["published"] == 1517
    assert at[("Table 13", "steps=16,stop0,max=none", "accuracy")]["published"] == 23.3
    assert at[("Table 13", "steps=16,stop0,max=none", "steps_used")]["measured"] == 16
    assert at[("Table 13", "steps=16,stop0,max=none", "tokens_per_step")]["measured"] == 1500 / 16
    assert at[("Table 13", "steps=16,stop0,max=none", "answer_tokens")]["measured"] == 5
    assert (
        at[("Figure 6", "reject,max=3500", "tries")] | {"published": 655, "measured": 600}
        == at[("Figure 6", "reject,max=3500", "tries")]
    )
    unpublished = [r for r in card if r["published"] is None]
    assert [r["setting"] for r in unpublished] == ["max=777"]
    # figures of settings this run did not measure are kept, with nothing measured
    assert any(r["setting"] == "tokens=1024,max=1024" and r["measured"] is None for r in card)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Reproduction card: s1-32B" in md and "**outside the 95% interval**" in md
    assert "AIME24 max=777" in md
    assert result.reference is not None
    # the terminal shows the measured figures too, each beside its published one
    buffer = io.StringIO()
    render_terminal(result, Console(file=buffer, width=120, color_system=None))
    shown = buffer.getvalue()
    assert "Reproduction card: s1-32B" in shown
    [row] = [
        line for line in shown.splitlines() if "Table 4" in line and "ignore=2" in line and "accuracy" in line
    ]
    assert "53.3" in row and "30.0" in row and "outside" in row


def test_class_conditional_control_follows_the_papers_rule(tmp_path):
    run = run_with_published_settings(
        tmp_path, [(BARE, 15, 6109, 6109), (SHORT, 9, 8033, 8033), (LONG, 11, 9651, 9651)]
    )
    result = build_report([run], tmp_path / "out", reference="s1-32b")
    (ccc,) = [m for m in result.methods if m.method == "class_conditional"]
    assert ccc.control == 50.0 and ccc.settings_in_control == 1  # "8033 > 6109 and 9651 > 6109"
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    (row,) = [r for r in data["reference"]["table3"] if r["method"] == "class_conditional"]
    assert row["published"]["control"] == 50 and row["measured"]["control"] == 50.0
    # the paper's Scaling for CCC (25) is per doubling of thinking tokens over short and long
    assert round(row["measured"]["scaling"]) == 25


def test_class_conditional_control_needs_the_bare_prompt(tmp_path):
    run = run_with_published_settings(tmp_path, [(SHORT, 9, 100, 100), (LONG, 11, 200, 200)])
    result = build_report([run], tmp_path / "out")
    (ccc,) = [m for m in result.methods if m.method == "class_conditional"]
    assert ccc.control == 0.0, "no class can be shown to follow without the default run"


def test_the_generated_count_stays_selectable(tmp_path):
    run = run_with_published_settings(tmp_path, [(BARE, 15, 7000, 6000)])
    result = build_report([run], tmp_path / "out", reference="s1-32b", tokens="generated")
    assert result.settings[0].avg_thinking_tokens == 7000


def test_the_card_holds_the_papers_tables_with_their_sources():
    _header, figures, methods = load_card()
    sources = {f.source for f in figures}
    assert {"Table 1", "Table 2", "Table 4", "Table 12", "Table 13", "Table 14", "Figure 6"} <= sources
    assert [m.label for m in methods] == ["BF", "TCC", "TCC + BF", "SCC", "SCC + BF", "CCC", "RS"]
    ref = get_reference("s1-32b")
    assert ref is not None and ref.with_budget_forcing["AIME24"] == 56.7  # Table 1
    assert {f.model for f in figures if f.source in ("Table 12", "Table 13")} == {
        "token-conditional-control",
        "step-conditional-control",
    }
    assert all(f.setting is None for f in figures if f.source == "Table 1")  # tied to no setting
