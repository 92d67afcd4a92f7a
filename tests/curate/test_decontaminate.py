"""Collect and decontaminate on the shared pool with benchmark questions planted in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from s1slurm.cli.curate import spread_values
from s1slurm.curate.decontaminate import REDACTED, decontaminate, load_benchmarks
from s1slurm.curate.ngrams import Item, NgramIndex
from s1slurm.curate.sources import collect
from s1slurm.curate.spec import DecontaminateConfig, SourceConfig
from tests.curate.data import BENCH, GPQA_LIKE, against, clean_olympiad, planted_rows, pool_file, read, write

pytest.importorskip("datasketch")
FIELDS = {
    "id": "id",
    "question": "question",
    "solution": "solution",
    "answer": "final_answer",
    "domain": "subfield",
}


@pytest.fixture
def pool(tmp_path: Path):
    path, where, ids = pool_file(tmp_path)
    got = collect([SourceConfig(name="pool", path=path, fields=FIELDS)], "spec.yaml")
    cfg = DecontaminateConfig(against=against(tmp_path))
    benchmarks = load_benchmarks(cfg.against, with_answer=False, source="spec.yaml")
    return got, decontaminate(got.rows, cfg, benchmarks), where, ids


def test_planted_benchmark_questions_are_removed_and_traced_to_their_item(pool):
    _, dec, where, _ = pool
    found = {m["id"]: (m["benchmark"], m["item_id"]) for m in dec.matches}
    assert found == {f"pool/{i}": w for i, w in where.items()}
    for m in dec.matches:
        if m["benchmark"] != "gpqa_diamond":  # the n-gram really occurs in both normalised texts
            assert m["ngram"] in " ".join(m["question"].lower().split())
            assert m["ngram"] in " ".join(m["benchmark_text"].lower().split())
            assert len(m["ngram"].split()) == 8
    assert {r["reason"] for r in dec.rejects if r["id"] in found} == {"contaminated"}


def test_clean_rows_are_kept_and_near_and_exact_duplicates_removed(pool):
    got, dec, _, ids = pool
    near, near_of = ids["near"]
    exact, exact_of = ids["exact"]
    assert [r for r in got.rejects if r["reason"] == "exact_duplicate"] == [
        {
            "id": f"pool/{exact}",
            "source": "pool",
            "row": len(ids["clean"]) + 5,
            "step": "collect",
            "reason": "exact_duplicate",
            "detail": f"same question as pool/{exact_of}",
            "duplicate_of": f"pool/{exact_of}",
        }
    ]
    assert dec.clusters == {f"pool/{near_of}": [f"pool/{near}"]}
    assert [r["id"] for r in dec.rows] == [f"pool/{i}" for i in ids["clean"]]


def test_gpqa_text_is_never_in_the_report_or_the_rejects(pool, tmp_path):
    from s1slurm.curate.reports import contamination_markdown, contamination_report

    _, dec, _, _ = pool
    report = contamination_report(dec, 10, ngram=8, with_answer=False, dataset="pool")
    [gpqa] = [m for m in report["matches"] if m["benchmark"] == "gpqa_diamond"]
    assert gpqa["question"] == gpqa["ngram"] == gpqa["benchmark_text"] == REDACTED
    texts = json.dumps(report) + contamination_markdown(report) + json.dumps(dec.rejects)
    for word in ("zorbon", "quintessence"):
        assert word not in texts
    assert "Consider this" not in json.dumps(dec.rejects)


def test_ngram_size_and_question_plus_answer_are_configurable():
    index = NgramIndex(13)
    index.add(Item("b", "1"), "one two three four five six seven eight nine ten eleven twelve thirteen")
    assert index.match("x one two three four five six seven eight nine ten eleven twelve y") is None
    assert (
        index.match("ONE two three four five six seven eight nine ten eleven   twelve thirteen").item.item_id
        == "1"
    )
    short = NgramIndex(8)
    short.add(Item("b", "2"), "Compute 2+2.")
    assert short.match("  compute   2+2. ").ngram == "compute 2+2."


def test_with_answer_matches_ngrams_that_reach_into_the_answer(tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_text(
        json.dumps({"question": "alpha beta gamma delta epsilon zeta", "answer": "eta theta"}) + "\n"
    )
    rows = [
        {
            "id": "p/1",
            "question": "foo alpha beta gamma delta epsilon zeta",
            "answer": "eta theta",
            "source": "p",
        }
    ]
    for with_answer, expected in ((False, 1), (True, 0)):
        cfg = DecontaminateConfig(
            ngram=8,
            with_answer=with_answer,
            against=[{"name": "jsonl", "path": str(bench)}],
            near_dup={"enabled": False},
        )
        dec = decontaminate(rows, cfg, load_benchmarks(cfg.against, with_answer=with_answer, source="x"))
        assert len(dec.rows) == expected


def test_non_text_questions_and_bad_lines_go_to_rejects_with_their_reason(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"question": "What is one plus one?", "answer": "2"}\n{"question": 17}\n'
        '{"question": ""}\nnot json\n{"question": ["a", "list"]}\n'
    )
    got = collect([SourceConfig(name="bad", path=path)], "spec.yaml")
    assert [r["question"] for r in got.rows] == ["What is one plus one?"]
    assert [(r["row"], r["reason"]) for r in got.rejects] == [
        (1, "non_text_question"),
        (2, "missing_question"),
        (3, "invalid_json"),
        (4, "non_text_question"),
    ]


def s1slurm(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_decontaminate_command_writes_the_report_for_any_dataset(tmp_path):
    path, where, _ = pool_file(tmp_path)
    bench = against(tmp_path)
    proc = s1slurm(
        tmp_path,
        "decontaminate",
        str(path),
        "--answer-field",
        "final_answer",
        "--id-field",
        "id",
        *[x for b in bench for x in ("--against", f"{b['name']}={b['path']}")],
        "--out",
        "rep",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "rep" / "contamination.json").read_text())
    assert {m["id"]: (m["benchmark"], m["item_id"]) for m in report["matches"]} == where
    assert "pool matched" in proc.stdout and GPQA_LIKE[0]["Question"][:30] not in proc.stdout
    assert (tmp_path / "rep" / "contamination.md").is_file() and (tmp_path / "rep" / "clean.jsonl").is_file()


def _pool_with_own_columns(tmp_path: Path) -> tuple[Path, list[dict], set[str]]:
    """A pool with its own columns (an id of its own, an answer, a list, a null) and benchmark
    questions planted among clean rows; returns it, its rows and the ids planted."""
    rows, where = planted_rows()
    aime_only = [r for r in rows if where[r["id"]][0] in ("aime24", "math500")]
    clean = clean_olympiad(12)
    pool = [
        {
            "uid": f"u-{r['id']}",
            "problem": r["question"],
            "answer": r["final_answer"],
            "tags": [1, "x"],
            "note": None,
        }
        for r in clean
    ]
    for k, r in enumerate(aime_only):
        pool.insert(
            3 * k + 1,
            {
                "uid": f"planted-{r['id']}",
                "problem": r["question"],
                "answer": "7",
                "tags": [],
                "note": "planted",
            },
        )
    return write(tmp_path / "pool.jsonl", pool), pool, {f"planted-{r['id']}" for r in aime_only}


def test_decontaminate_command_gives_back_the_input_rows_minus_the_contaminated(tmp_path):
    path, pool, planted = _pool_with_own_columns(tmp_path)
    bench = BENCH / "math500.jsonl", BENCH / "aime24.jsonl"  # field 'problem': found without NAME=
    proc = s1slurm(tmp_path, "decontaminate", str(path), "--against", *map(str, bench), "--out", "out")
    assert proc.returncode == 0, proc.stderr
    assert read(tmp_path / "out" / "clean.jsonl") == [r for r in pool if r["uid"] not in planted]
    rejects = read(tmp_path / "out" / "rejects.jsonl")
    assert {r["record"]["uid"] for r in rejects} == planted  # no usual id column: rows are named by number
    assert all(
        r["record"] == pool[r["row"]] and r["id"] == r["row"] and r["reason"] == "contaminated"
        for r in rejects
    )
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert (provenance["question_column"], provenance["id_column"]) == ("problem", None)
    assert (provenance["rows_in"], provenance["rows_out"]) == (len(pool), len(pool) - len(planted))


def test_against_takes_several_values_before_or_after_the_dataset(tmp_path):
    path, pool, planted = _pool_with_own_columns(tmp_path)
    bench = [f"aime24={BENCH / 'aime24.jsonl'}", str(BENCH / "math500.jsonl")]
    proc = s1slurm(
        tmp_path, "decontaminate", "--against", *bench, str(path), "--id-field", "uid", "--out", "out"
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read(tmp_path / "out" / "clean.jsonl")) == len(pool) - len(planted)
    assert {r["id"] for r in read(tmp_path / "out" / "rejects.jsonl")} == planted
    assert spread_values(
        ["p", "--against", "a", "b", "--out", "o", "--no-near-dup"], {"--out", "--against"}
    ) == ["p", "--against", "a", "--against", "b", "--out", "o", "--no-near-dup"]


def test_a_benchmark_file_without_a_usual_question_column_is_named_explicitly(tmp_path):
    path, pool, planted = _pool_with_own_columns(tmp_path)
    odd = write(tmp_path / "odd.jsonl", [{"text": r["problem"]} for r in pool if r["uid"] in planted])
    proc = s1slurm(tmp_path, "decontaminate", str(path), "--against", str(odd), "--out", "a")
    assert (
        proc.returncode == 2 and "odd.jsonl" in proc.stderr and "problem, question, Question" in proc.stderr
    )
    proc = s1slurm(
        tmp_path,
        "decontaminate",
        str(path),
        "--against",
        str(odd),
        "--against-question-field",
        "text",
        "--out",
        "b",
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read(tmp_path / "b" / "clean.jsonl")) == len(pool) - len(planted)


def test_bad_input_exits_2_naming_file_and_field(tmp_path, workdir):
    bench = tmp_path / "gone.jsonl"
    proc = s1slurm(workdir, "decontaminate", str(tmp_path / "missing.jsonl"), "--against", "aime24")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = s1slurm(workdir, "decontaminate", str(pool_file(tmp_path)[0]), "--against", str(bench))
    assert proc.returncode == 2 and "gone.jsonl" in proc.stderr and "--against" in proc.stderr
    spec = {
        "stage": "curate",
        "out": "cur",
        "steps": ["collect"],
        "sources": [{"name": "p", "path": str(pool_file(tmp_path)[0]), "fields": {"question": "problem"}}],
    }
    import yaml

    (workdir / "c.yaml").write_text(yaml.safe_dump(spec))
    proc = s1slurm(workdir, "--profile", "local", "submit", "curate", "--config", "c.yaml")
    assert proc.returncode == 2 and "c.yaml" in proc.stderr and "sources.0.fields.question" in proc.stderr
    assert "'problem'" in proc.stderr and "Traceback" not in proc.stderr
    spec["sources"][0] = {"name": "p", "path": str(tmp_path / "nope.jsonl")}
    (workdir / "c.yaml").write_text(yaml.safe_dump(spec))
    proc = s1slurm(workdir, "--profile", "local", "submit", "curate", "--config", "c.yaml")
    assert proc.returncode == 2 and "sources.0.path" in proc.stderr and "nope.jsonl" in proc.stderr


def test_against_takes_every_benchmark_preset_the_evaluation_knows():
    from s1slurm.curate.decontaminate_table import benchmark_entry
    from s1slurm.eval.benchmarks import PRESET_NAMES

    assert {"aime24", "aime24_h4", "math500", "gpqa_diamond"} == set(PRESET_NAMES)
    for name in PRESET_NAMES:
        assert benchmark_entry(name) == {"name": name}
        assert benchmark_entry(f"{name}=local.jsonl") == {"name": name, "path": "local.jsonl"}
