"""Missing data is listed at the top of every output and marks the report partial; --strict fails."""

from __future__ import annotations

import io
import json

import pytest
from report_runs import make_plan, record, write_run
from rich.console import Console

from s1slurm.core.errors import ConfigError, S1SlurmError
from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report import PartialReportError, build_report, default_out_dir, render_terminal

LO, HI = BudgetSetting(max_thinking_tokens=64), BudgetSetting(max_thinking_tokens=256)
SH0, SH1 = Shard("aime24", 0, 2), Shard("aime24", 1, 2)


def lines_of_shard0() -> list[str]:
    good = [record("aime24", s, q, i, True, 50) for s in (LO, HI) for q in ("q1", "q2") for i in (0, 1)]
    good.remove(record("aime24", HI, "q2", 1, True, 50))  # one sample never written
    return [good[0], "{not json", *good[1:], good[0], '{"benchmark": "aime24"}', "[1, 2]"]


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Shard 0 done but with a gap, a duplicate and malformed lines; shard 1 (q3) never ran."""
    root = tmp_path_factory.mktemp("partial")
    plan = make_plan({"aime24": ["q1", "q2", "q3"]}, [LO, HI], samples=2, shards=2)
    run = write_run(root, "eval-broken", plan, {SH0: lines_of_shard0()}, done=[SH0])
    return run, root / "out"


@pytest.fixture(scope="module")
def result(broken):
    run, out = broken
    return build_report([run], out)


def test_every_gap_is_found(result, broken):
    run, _ = broken
    i = result.issues
    assert result.partial
    assert i.shards_not_done == [{"run": "eval-broken", "shard": SH1.id, "records_file": "absent"}]
    by_q = {(q["benchmark"], q["question_id"]): q for q in i.missing_questions()}
    assert by_q[("aime24", "q3")] == {
        "benchmark": "aime24",
        "question_id": "q3",
        "missing_records": 4,
        "settings": 2,
        "absent": True,
    }
    assert by_q[("aime24", "q2")]["missing_records"] == 1 and not by_q[("aime24", "q2")]["absent"]
    assert i.missing_total == 5 and set(by_q) == {("aime24", "q2"), ("aime24", "q3")}
    records_file = run / "outputs" / SH0.id / "records.jsonl"
    assert i.duplicates_total == 1
    assert i.duplicates[0]["at"] == f"{records_file}:9" and i.duplicates[0]["first_at"] == f"{records_file}:1"
    assert i.malformed_total == 3
    assert [(m["file"], m["line"]) for m in i.malformed] == [(str(records_file), n) for n in (2, 10, 11)]
    assert "invalid JSON" in i.malformed[0]["error"] and "not a JSON object" in i.malformed[2]["error"]
    assert result.records == 7


def test_the_listing_comes_first_in_every_output(result):
    out = result.out_dir
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text, first_table in ((md, "| run |"), (html, "<h2>Runs</h2>")):
        top = text[: text.index(first_table)]
        assert "PARTIAL REPORT" in top
        assert SH1.id in top and "aime24 / q3: no records at all" in top
        assert "records.jsonl:9 (first at " in top and "records.jsonl:1)" in top
        assert "records.jsonl:2: invalid JSON" in top and "records.jsonl:10: " in top
        assert "5 expected record(s) missing" in top
    data = json.loads((out / "report.json").read_text())
    assert data["partial"] is True and data["issues"]["missing_records_total"] == 5
    assert data["issues"]["malformed"][1]["line"] == 10
    buf = io.StringIO()
    render_terminal(result, Console(file=buf, width=200, color_system=None))
    term = buf.getvalue()
    assert term.startswith(" PARTIAL REPORT ") and SH1.id in term and "records.jsonl:11" in term
    assert term.index("records.jsonl:11") < term.index("Test-time scaling")


def test_strict_fails_after_writing_everything(broken, tmp_path):
    run, _ = broken
    with pytest.raises(PartialReportError) as err:
        build_report([run], tmp_path / "strict", strict=True)
    assert isinstance(err.value, S1SlurmError) and err.value.exit_code == 1
    assert err.value.result.partial and "5 missing record(s)" in str(err.value)
    for name in ("report.json", "report.md", "report.html", "scaling.png", "scaling.svg"):
        assert (tmp_path / "strict" / name).stat().st_size > 0


def test_strict_passes_a_complete_sweep_merged_from_two_runs(tmp_path):
    plan_lo = make_plan({"aime24": ["q1"]}, [LO], samples=1)
    plan_hi = make_plan({"aime24": ["q1"]}, [HI], samples=1)
    sh = Shard("aime24", 0, 1)
    a = write_run(tmp_path, "eval-lo", plan_lo, {sh: [record("aime24", LO, "q1", 0, False, 60)]})
    b = write_run(tmp_path, "eval-hi", plan_hi, {sh: [record("aime24", HI, "q1", 0, True, 240)]})
    result = build_report([a, b], tmp_path / "out", strict=True)
    assert not result.partial and [m.setting for m in result.settings] == ["max=64", "max=256"]
    assert result.methods[0].scaling_log2 == pytest.approx(50.0)  # 100 pp over log2(240/60) = 2
    # the same records given twice through a copy of the run: duplicates across runs
    c = write_run(tmp_path, "eval-lo-again", plan_lo, {sh: [record("aime24", LO, "q1", 0, True, 10)]})
    again = build_report([a, b, c], tmp_path / "out2")
    assert again.partial and again.issues.duplicates_total == 1
    assert (
        "eval-lo-again" in again.issues.duplicates[0]["at"]
        and "eval-lo/" in again.issues.duplicates[0]["first_at"]
    )
    assert [m.accuracy for m in again.settings] == [0.0, 100.0]  # first copy kept


def test_bad_inputs_are_config_errors(tmp_path, broken):
    run, _ = broken
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a run directory"):
        build_report([tmp_path / "empty"], tmp_path / "o")
    probe = write_run(tmp_path, "probe-run", make_plan({}, [], 1), {}, stage="probe")
    with pytest.raises(ConfigError, match="not an evaluation run"):
        build_report([probe], tmp_path / "o")
    with pytest.raises(ConfigError, match="unknown reference"):
        build_report([run], tmp_path / "o", reference="gpt-5")
    with pytest.raises(ConfigError, match="given twice"):
        build_report([run, run], tmp_path / "o")
    assert not (tmp_path / "o").exists()
    assert default_out_dir([run]).parts[-2:] == ("reports", "eval-broken")
    assert default_out_dir([run, probe]).name == "eval-broken-and-1-more"


def test_no_malformed_line_crashes_the_merge(tmp_path):
    good = json.loads(record("aime24", LO, "q1", 0, True, 50))
    bad = [b"\xff\xfe not utf-8", b"", b"   ", b"null", b'"text"', b"{}", b'{"benchmark": ["x"]}']
    for field, value in [
        ("sample_index", True),
        ("sample_index", 10**30),
        ("sample_index", -1),
        ("thinking_tokens", 1.5),
        ("thinking_tokens", None),
        ("correct", 1),
        ("correct", "yes"),
        ("thinking_end", ["budget"]),
        ("thinking_end", "other"),
        ("extracted_answer", 42),
        ("budget", "max=64"),
        ("question_id", ""),
        ("setting", {"a": 1}),
        ("forced_continuations", "2"),
    ]:
        bad.append(json.dumps({**good, field: value}).encode())
    bad.append(json.dumps({k: v for k, v in good.items() if k != "gold_answer"}).encode())
    sh = Shard("aime24", 0, 1)
    run = write_run(tmp_path, "eval-bad", make_plan({"aime24": ["q1"]}, [LO], samples=1), {sh: []})
    (run / "outputs" / sh.id / "records.jsonl").write_bytes(b"\n".join(bad + [json.dumps(good).encode()]))
    result = build_report([run], tmp_path / "out")
    assert result.records == 1 and not result.issues.missing_total
    assert result.issues.malformed_total == len(bad) - 2  # the two blank lines are skipped
    assert [m["line"] for m in result.issues.malformed] == [1] + list(range(4, len(bad) + 1))
    assert result.partial


def test_a_run_without_any_record_still_writes_every_output(tmp_path):
    plan = make_plan({"aime24": ["q1", "q2"]}, [LO, HI], samples=4, shards=2)
    run = write_run(tmp_path, "eval-empty", plan, {}, done=[])
    result = build_report([run], tmp_path / "out")
    assert result.partial and result.records == 0 and result.settings == [] and result.methods == []
    assert len(result.issues.shards_not_done) == 2 and result.issues.missing_total == 16
    assert "no usable records" in (tmp_path / "out" / "report.md").read_text()
    assert all((tmp_path / "out" / name).stat().st_size > 0 for name in result.files)
