"""The model steps for real: SmolLM2 (2 layers, on the CPU) through the evaluation stage's
transformers engine, the whole pipeline run locally, killed in the middle of a traces shard and
resumed by submitting the same spec again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from s1slurm.curate.store import CurationDir, read_jsonl
from tests.curate.data import BENCH, clean_olympiad, write

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
pytest.importorskip("transformers")
pytest.importorskip("datasketch")
TRACE_FLAGS = {None, "empty_thinking", "cut_off", "empty_attempt", "cut_off_attempt", "prompt_too_long"}


def curate_spec(pool: Path) -> dict:
    model = {"engine": "transformers", "batch_size": 1}
    return {
        "stage": "curate",
        "name": "curate-test",
        "out": "cur",
        "sources": [
            {
                "name": "olympiadbench",
                "path": str(pool),
                "fields": {
                    "id": "id",
                    "question": "question",
                    "solution": "solution",
                    "answer": "final_answer",
                    "domain": "subfield",
                },
            }
        ],
        "decontaminate": {"against": [{"name": "aime24", "path": str(BENCH / "aime24.jsonl")}]},
        "traces": {
            "model": "smollm2:2",
            "max_thinking_tokens": 6,
            "max_answer_tokens": 4,
            "shards": 2,
            **model,
        },
        "attempts": {"models": ["smollm2:2"], "max_tokens": 6, "shards": 2, **model},
        "domains": {"model": "smollm2:2", "max_tokens": 8, "retries": 1, **model},
        "select": {"n": 2, "tokenizer": "smollm2:2", "strategy": "full"},
    }


def submit(cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s1slurm",
            "--profile",
            "local",
            "submit",
            "curate",
            "--config",
            "curate.yaml",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def curated(tmp_path_factory, small_model) -> CurationDir:
    """Five questions (one without a domain) through every step; the first run is SIGKILLed once a
    traces shard has written a record, the second (same spec) resumes."""
    work = tmp_path_factory.mktemp("curate")
    rows = clean_olympiad(5)
    rows[4] = {**rows[4], "subfield": None}
    pool = write(work / "pool.jsonl", rows)
    (work / "curate.yaml").write_text(yaml.safe_dump(curate_spec(pool)))
    cur = CurationDir(work / "cur")
    shard0 = cur.step_dir("traces") / "shards" / "traces-00000-of-00002.jsonl"
    proc = submit(work)
    try:
        deadline = time.time() + 600
        while not (shard0.is_file() and shard0.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.time() < deadline, "no trace record in time"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(shard0, "a") as f:
        f.write('{"key": "olympiadbench/torn", "thin')  # what a kill in the middle of a write leaves
    assert not cur.is_done("traces")
    proc = submit(work)
    try:
        out, _ = proc.communicate(timeout=1200)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0 and cur.is_done("select"), out
    return cur


def test_killed_shard_resumes_without_duplicates_and_every_question_is_traced(curated):
    ids = [r["id"] for r in read_jsonl(curated.export_path("decontaminate"))]
    keys = []
    for path in sorted((curated.step_dir("traces") / "shards").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # the torn line, closed and skipped
                keys.append(json.loads(line)["key"])
    assert sorted(keys) == sorted(ids) and len(ids) == 5
    done = json.loads((curated.step_dir("traces") / "shards" / "traces-00000-of-00002.done").read_text())
    assert done["torn_lines"] == 1 and done["written"] < done["questions"]  # resumed, not redone
    traced = read_jsonl(curated.export_path("traces"))
    assert [r["id"] for r in traced] == ids
    assert {r["trace_flag"] for r in traced} <= TRACE_FLAGS
    for r in traced:  # a flag says why; an unflagged trace has both parts
        if r["trace_flag"] is None:
            assert r["thinking"] and r["attempt"]
        elif r["trace_flag"] == "empty_thinking":
            assert r["thinking"] == ""
        elif r["trace_flag"] == "cut_off":
            assert r["teacher_thinking_tokens"] == 6


def test_attempts_are_graded_and_domains_come_from_the_source_or_the_model(curated):
    rows = read_jsonl(curated.export_path("domains"))
    for r in rows:
        [attempt] = json.loads(r["attempts"])
        assert attempt["model"] == "smollm2:2" and attempt["correct"] in (True, False, None)
        assert attempt["correct"] is not None or attempt["grade_error"]
        assert r["solved_by"] == (["smollm2:2"] if attempt["correct"] else [])
    origins = Counter(r["domain_origin"] for r in rows)
    assert origins["source"] == 4 and origins["model"] + origins["unknown"] == 1
    [classified] = [r for r in rows if r["domain_origin"] != "source"]
    assert classified["domain"] == "unknown" or classified["domain"][:2].isdigit()


def test_select_writes_the_s1k_schema_and_its_report(curated):
    from s1slurm.curate.select import S1K_COLUMNS

    marker = json.loads(curated.step_marker("select").read_text())
    selected = read_jsonl(curated.export_path("select"))
    assert all(tuple(r) == S1K_COLUMNS for r in selected)
    report = json.loads((curated.step_dir("select") / "selection.json").read_text())
    assert [s["step"] for s in report["steps"]] == [
        "collect",
        "decontaminate",
        "traces",
        "attempts",
        "domains",
    ]
    assert report["select_filters"][0]["in"] == 5 and marker["out"] == len(selected)
    assert "## Domains" in (curated.step_dir("select") / "selection.md").read_text()
    assert "select: quality" in (curated.step_dir("select") / "selection.txt").read_text()  # the rich table
    assert "aime24" in (curated.step_dir("decontaminate") / "contamination.txt").read_text()
