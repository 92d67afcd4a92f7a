"""Every metric of a report, checked against values computed by hand from generated records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from report_runs import make_plan, record, write_run

from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report import build_report
from s1slurm.report.metrics import bootstrap_ci, k_values, maj_at_k, majority_correct, pass_at_k, scaling

S128 = BudgetSetting(max_thinking_tokens=128)
S200 = BudgetSetting(max_thinking_tokens=200)  # broken: every sample thinks 256 tokens
S512 = BudgetSetting(max_thinking_tokens=512)
IGN = BudgetSetting(max_thinking_tokens=None, min_thinking_tokens=300, num_ignore=1, method="ignore")
PLAIN = BudgetSetting(max_thinking_tokens=None, method="none")

# (setting, question, sample) -> (correct, thinking tokens, thinking end, forced, extracted answer)
AIME = {
    (S128, "q1", 0): (True, 128, "budget", 0, "7"),
    (S128, "q1", 1): (False, 156, "natural", 0, "5"),
    (S128, "q2", 0): (False, 100, "natural", 0, "3"),
    (S128, "q2", 1): (False, 128, "budget", 0, "3"),
    (S200, "q1", 0): (True, 256, "budget", 1, "7"),
    (S200, "q1", 1): (True, 256, "budget", 0, "7"),
    (S200, "q2", 0): (True, 256, "budget", 2, "9"),
    (S200, "q2", 1): (False, 256, "budget", 1, "4"),
    (S512, "q1", 0): (True, 512, "natural", 0, "7"),
    (S512, "q1", 1): (True, 512, "natural", 0, "7"),
    (S512, "q2", 0): (False, 512, "natural", 0, "1"),
    (S512, "q2", 1): (False, 512, "natural", 0, "2"),
    (IGN, "q1", 0): (False, 200, "natural", 1, None),
    (IGN, "q1", 1): (False, 200, "natural", 1, "0"),
    (IGN, "q2", 0): (None, 200, "natural", 1, "8"),
    (IGN, "q2", 1): (False, 200, "natural", 1, "8"),
}
GOLD = {"q1": "7", "q2": "9"}
MATH = {("m1", 10, True), ("m2", 20, True), ("m3", 30, False)}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    aime = [
        record("aime24", s, q, i, c, t, end=e, forced=f, extracted=x, gold=GOLD[q])
        for (s, q, i), (c, t, e, f, x) in AIME.items()
    ]
    math_lines = [
        record("math500", PLAIN, q, 0, c, t, extracted="a", gold="a" if c else "b") for q, t, c in MATH
    ]
    plan = make_plan({"aime24": ["q1", "q2"]}, [S128, S200, S512, IGN], samples=2)
    run_a = write_run(root, "eval-a", plan, {Shard("aime24", 0, 1): aime})
    plan_b = make_plan({"math500": ["m1", "m2", "m3"]}, [PLAIN], samples=1)
    run_b = write_run(root, "eval-b", plan_b, {Shard("math500", 0, 1): math_lines})
    return build_report([run_a, run_b], root / "out", reference="s1-32b")


def setting(result, bench, label):
    (m,) = [m for m in result.settings if m.benchmark == bench and m.setting == label]
    return m


def method(result, bench, name):
    (c,) = [c for c in result.methods if c.benchmark == bench and c.method == name]
    return c


def test_complete_sweep_is_not_partial(report):
    assert not report.partial
    assert report.records == 19
    assert report.issues.missing_total == report.issues.duplicates_total == report.issues.malformed_total == 0


def test_accuracy_interval_and_thinking_of_a_setting_within_budget_on_average(report):
    m = setting(report, "aime24", "max=128")
    assert m.accuracy == pytest.approx(25.0)  # q1: 1/2, q2: 0/2 -> mean 0.25
    assert (m.ci_low, m.ci_high) == pytest.approx((0.0, 50.0))  # resampling {0.5, 0}: means 0 .. 0.5
    assert m.avg_thinking_tokens == pytest.approx(128.0)  # (128 + 156 + 100 + 128) / 4
    assert m.cut_share == pytest.approx(50.0)
    assert m.over_max == 1 and m.under_min == 0
    assert m.in_control  # 128 <= 128
    assert m.maj_k == 2 and m.maj_accuracy == pytest.approx(50.0)  # q1 tie -> first "7" (right); q2 "3"
    assert (m.questions, m.records, m.samples_per_question, m.samples_uniform) == (2, 4, 2, True)


def test_a_setting_that_breaks_its_budget_is_out_of_control(report):
    m = setting(report, "aime24", "max=200")
    assert m.accuracy == pytest.approx(75.0)
    assert (m.ci_low, m.ci_high) == pytest.approx((50.0, 100.0))
    assert m.avg_thinking_tokens == pytest.approx(256.0)
    assert m.over_max == 4 and not m.in_control
    assert m.cut_share == pytest.approx(100.0)
    assert m.avg_forced_continuations == pytest.approx(1.0) and m.total_forced_continuations == 4
    assert m.maj_accuracy == pytest.approx(100.0)  # q2 tie "9" vs "4" -> "9" seen first


def test_control_scaling_performance_of_the_max_method(report):
    c = method(report, "aime24", "max")
    assert c.settings == ["max=128", "max=200", "max=512"]  # by average thinking tokens
    assert c.control == pytest.approx(200.0 / 3) and c.settings_in_control == 2
    # points (128, 25), (256, 75), (512, 50); x = log2 tokens: slopes 50, 12.5, -25
    assert c.scaling_log2 == pytest.approx((50 + 12.5 - 25) / 3)
    # raw tokens, per 1,000: 50/0.128, 25/0.384, -25/0.256
    assert c.scaling_raw == pytest.approx((50 / 0.128 + 25 / 0.384 - 25 / 0.256) / 3)
    assert c.performance == pytest.approx(75.0) and c.performance_setting == "max=200"


def test_minimum_not_reached_ungraded_samples_and_a_single_setting(report):
    m = setting(report, "aime24", "ignore=1,min=300,max=none")
    assert m.method == "ignore" and m.accuracy == 0.0 and m.ungraded == 1
    assert m.under_min == 4 and not m.in_control and m.over_max == 0
    assert m.avg_forced_continuations == pytest.approx(1.0)
    assert m.maj_accuracy == 0.0  # q1: "0" (None never votes); q2: "8"
    c = method(report, "aime24", "ignore")
    assert c.control == 0.0 and c.scaling_log2 is None and c.scaling_raw is None


def test_single_sample_benchmark_has_no_majority_vote(report):
    m = setting(report, "math500", "max=none")
    assert m.accuracy == pytest.approx(200.0 / 3) and m.maj_k is None and m.maj_accuracy is None
    assert m.avg_thinking_tokens == pytest.approx(20.0)
    assert (m.ci_low, m.ci_high) == pytest.approx((0.0, 100.0))
    c = method(report, "math500", "none")
    assert c.control == 100.0 and c.scaling_log2 is None and c.performance == pytest.approx(200.0 / 3)


def test_json_holds_every_number_units_runs_and_version(report):
    data = json.loads((report.out_dir / "report.json").read_text())
    assert data["s1slurm_version"] and data["partial"] is False
    assert {r["run"] for r in data["runs"]} == {"eval-a", "eval-b"}
    assert data["runs"][0]["spec"]["model"] == "tiny-model" and data["models"] == ["tiny-model"]
    assert "doubling" in data["units"]["scaling_log2"] and "1,000" in data["units"]["scaling_raw"]
    by = {(s["benchmark"], s["setting"]): s for s in data["settings"]}
    assert by[("aime24", "max=200")]["in_control"] is False and by[("aime24", "max=128")]["over_max"] == 1
    (mx,) = [m for m in data["methods"] if m["method"] == "max"]
    assert mx["scaling_log2"] == pytest.approx(12.5) and mx["control"] == pytest.approx(66.6667, abs=1e-3)
    rows = {r["benchmark"]: r for r in data["reference"]["rows"]}
    assert rows["aime24"]["with_budget_forcing"] == 56.7 and rows["aime24"]["without_budget_forcing"] == 50.0
    assert (
        rows["math500"]["with_budget_forcing"] == 93.0 and rows["math500"]["without_budget_forcing"] == 92.6
    )


def test_markdown_tables_state_units_and_show_na(report):
    md = (report.out_dir / "report.md").read_text()
    assert (
        "| aime24 | max | 3 | 66.7 (2/3) [33.3, 66.7] | +12.50 [-2.39, +28.61] | +119.36 [+52.27, +191.24] "
        "| 75.0 [50.0, 100.0] (max=200) |" in md
    )
    assert (
        "| aime24 | ignore | 1 | 0.0 (0/1) [0.0, 0.0] | n/a | n/a | 0.0 [0.0, 0.0] (ignore=1,min=300,max=none) |"
        in md
    )
    assert "| aime24 | max | max=128 → max=200: +50.0 pp [+50.0, +50.0]" in md
    assert (
        "| max | max=128 | [0, 128] | 2 | 2 | 25.0 [0.0, 50.0] | 50.0 (k=2) | 128.0 | 50.0 | 0.00 | 1 | 0 | yes | 0 |"
        in md
    )
    assert "percentage points of accuracy per doubling" in md
    assert "56.7" in md and "92.6" in md and "None: every planned record" in md


def test_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    per_q = rng.integers(0, 2, size=400).astype(float)
    lo, hi = bootstrap_ci(per_q)
    half = 1.96 * math.sqrt(per_q.mean() * (1 - per_q.mean()) / per_q.size)
    assert lo == pytest.approx(per_q.mean() - half, abs=0.01)
    assert hi == pytest.approx(per_q.mean() + half, abs=0.01)
    assert bootstrap_ci(per_q) == (lo, hi)  # seeded
    assert bootstrap_ci(np.array([0.5, 0.5, 0.5])) == pytest.approx((0.5, 0.5))


def test_scaling_skips_equal_lengths_and_needs_two_points():
    assert scaling([(100, 10.0)], log2=True) is None
    assert scaling([(100, 10.0), (100, 30.0)], log2=False) is None
    assert scaling([(0, 5.0), (64, 10.0), (256, 30.0)], log2=True) == pytest.approx(10.0)  # 0 left out
    assert scaling([(2000, 30.0), (1000, 10.0)], log2=False) == pytest.approx(20.0)


def test_majority_vote_ties_go_to_the_first_answer_and_none_never_votes():
    assert majority_correct([5, 7, 7], [0, 1, 1]) is True
    assert majority_correct([5, 7], [0, 1]) is False
    assert majority_correct([-1, -1, 3], [0, 0, 1]) is True
    assert majority_correct([-1, -1], [0, 0]) is False


def test_plot_has_a_line_per_benchmark_and_method_labels_and_the_reference(report):
    svg = (report.out_dir / "scaling.svg").read_text()
    for text in (
        "aime24 · max",
        "aime24 · ignore",
        "math500 · none",
        "max=128",
        "max=200",
        "max=512",
        "s1-32B with budget forcing (56.7)",
        "s1-32B without (50.0)",
        "s1-32B with budget forcing (93.0)",
        "log2 scale",
        "accuracy (%)",
    ):
        assert text in svg, text
    assert (report.out_dir / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (report.out_dir / "report.html").read_text()
    assert '<table id="reference">' in html and "56.7" in html and "92.6" in html


def test_a_method_that_never_thinks_still_has_its_line(tmp_path):
    # 0 average thinking tokens has no place on a log axis; the plot's axis is linear below one token
    lines = [
        record("math500", PLAIN, q, 0, c, 0, extracted="a", gold="a" if c else "b")
        for q, c in (("m1", True), ("m2", False))
    ]
    run = write_run(
        tmp_path,
        "eval-z",
        make_plan({"math500": ["m1", "m2"]}, [PLAIN], samples=1),
        {Shard("math500", 0, 1): lines},
    )
    result = build_report([run], tmp_path / "out")
    assert setting(result, "math500", "max=none").avg_thinking_tokens == 0
    svg = (tmp_path / "out" / "scaling.svg").read_text()
    assert "math500 · none" in svg and "log2 scale above 1" in svg


def test_pass_at_k_is_the_unbiased_estimator_and_curves_run_over_powers_of_two():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 3, 2) == 1.0
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - math.comb(3, 3) / math.comb(5, 3))
    assert k_values(8) == [1, 2, 4, 8] and k_values(6) == [1, 2, 4, 6] and k_values(1) == [1]


def test_maj_at_k_averages_over_subsets_of_k_samples():
    # classes 0,0,1 with only class 0 correct: every pair but (1, 2)... votes: (0,0)->0, (0,1)->0, (0,1)->0
    assert maj_at_k([0, 0, 1], [1, 1, 0], 2) == pytest.approx(1.0)
    assert maj_at_k([1, 0, 0], [0, 1, 1], 2) == pytest.approx(1 / 3)  # ties go to the first sample
    assert maj_at_k([0, 0, 1], [1, 1, 0], 1) == pytest.approx(2 / 3)


def test_setting_curves_and_majority_use_equivalent_answers(report):
    m = setting(report, "aime24", "max=200")
    assert m.ks == [1, 2] and m.pass_at_k == pytest.approx([75.0, 100.0])
    # q1: 7, 7 -> correct; q2: 9, 4 -> tie, first (9) correct
    assert m.maj_at_k[-1] == pytest.approx(100.0) and m.maj_accuracy == pytest.approx(100.0)


def test_method_intervals_contain_the_point_estimates(report):
    c = method(report, "aime24", "max")
    assert c.bootstrap_questions == 2
    assert c.performance_ci[0] <= c.performance <= c.performance_ci[1]
    assert c.scaling_log2_ci[0] <= c.scaling_log2 <= c.scaling_log2_ci[1]
    assert [(n["from"], n["to"]) for n in c.neighbours] == [("max=128", "max=200"), ("max=200", "max=512")]
    assert c.neighbours[0]["difference"] == pytest.approx(50.0)


def test_reference_compares_at_the_named_setting_not_the_best(tmp_path):
    lines = [
        record("aime24", s, q, i, c, t, end=e, forced=f, extracted=x, gold=GOLD[q])
        for (s, q, i), (c, t, e, f, x) in AIME.items()
    ]
    run = write_run(
        tmp_path,
        "eval-r",
        make_plan({"aime24": ["q1", "q2"]}, [S128, S200, S512, IGN], 2),
        {Shard("aime24", 0, 1): lines},
    )
    result = build_report([run], tmp_path / "out", reference="s1-32b@max=512")
    (row,) = result.reference_rows()
    assert row["setting"] == "max=512" and row["accuracy"] == pytest.approx(50.0)  # not the best (75)
    assert row["with_budget_forcing"] == 56.7
    assert "this report at the named setting" in (tmp_path / "out" / "report.md").read_text()


def test_runs_that_ran_differently_are_flagged(tmp_path):
    runs = []
    for name, dtype in (("eval-f32", "float32"), ("eval-bf16", "bfloat16")):
        plan = make_plan({"aime24": ["q1"]}, [S128], 1)
        plan["run"] = {
            "engine": "vllm",
            "engine_version": "vllm 0.32.0",
            "dtype": dtype,
            "tensor_parallel_size": 8,
            "batch_size": 64,
            "batch_invariant": dtype == "float32",
        }
        runs.append(
            write_run(
                tmp_path,
                name,
                plan,
                {Shard("aime24", 0, 1): [record("aime24", S128, "q1", 0, True, 10, run=name)]},
            )
        )
    result = build_report(runs, tmp_path / "out")
    assert result.run_differences() == ["dtype", "batch_invariant"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "differ in dtype, batch_invariant" in md and "vllm 0.32.0" in md and "tensor parallel 8" in md
    assert 'id="runs-differ"' in (tmp_path / "out" / "report.html").read_text()


def test_control_of_conditional_prompts_checks_the_stated_budget(tmp_path):
    stated = BudgetSetting(None, stated_tokens=100, method="token_conditional")
    steps = BudgetSetting(None, stated_steps=2, step_tokens=50, method="step_conditional")
    lines = [record("aime24", stated, f"q{q}", 0, True, 150, gold="1") for q in range(2)]
    lines += [record("aime24", steps, f"q{q}", 0, True, 90, gold="1") for q in range(2)]
    run = write_run(
        tmp_path,
        "eval-c",
        make_plan({"aime24": ["q0", "q1"]}, [stated, steps], 1),
        {Shard("aime24", 0, 1): lines},
    )
    result = build_report([run], tmp_path / "out")
    assert method(result, "aime24", "token_conditional").control == 0.0  # 150 > the stated 100
    assert setting(result, "aime24", "tokens=100,max=none").over_max == 2
    assert method(result, "aime24", "step_conditional").control == 100.0  # 90 <= 2 x 50
