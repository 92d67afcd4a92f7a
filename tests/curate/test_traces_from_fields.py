"""Step ``traces`` with ``from_fields``: a source's own worked solutions become the traces, in one
CPU task, with the same columns and flags as a teacher's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from s1slurm.config.cluster import load_cluster
from s1slurm.core.errors import ConfigError
from s1slurm.curate.pipeline import run_cpu_step
from s1slurm.curate.spec import CurateSpec
from s1slurm.curate.store import CurationDir, load_rows, save_rows
from s1slurm.stages.curate import CurateStage
from tests.conftest import REPO

FIELDS = {"thinking": "solution", "attempt": "answer"}


def spec(tmp_path: Path, **traces) -> CurateSpec:
    return CurateSpec(
        out=str(tmp_path / "cur"),
        steps=["collect", "traces"],
        sources=[{"name": "p", "path": str(tmp_path / "p.jsonl")}],
        traces=traces,
    )


def test_traces_are_copied_from_the_rows_and_empty_ones_are_flagged(tmp_path):
    s = spec(tmp_path, from_fields=FIELDS)
    cur = CurationDir(tmp_path / "cur")
    save_rows(
        cur,
        "collect",
        [
            {"id": "a", "question": "q1", "solution": "step 1\nstep 2", "answer": "42"},
            {"id": "b", "question": "q2", "solution": "  ", "answer": "7"},
            {"id": "c", "question": "q3", "solution": "work", "answer": None},
        ],
    )
    cur.mark_done("collect", {"in": 3, "out": 3})
    info = run_cpu_step(cur, s, "traces", "c.yaml")
    rows = {r["id"]: r for r in load_rows(cur, "traces")}
    assert rows["a"]["thinking"] == "step 1\nstep 2" and rows["a"]["attempt"] == "42"
    assert rows["a"]["trace_flag"] is None and rows["a"]["solution"] == "step 1\nstep 2"
    assert rows["b"]["trace_flag"] == "empty_thinking" and rows["c"]["trace_flag"] == "empty_attempt"
    assert {"teacher_thinking_tokens", "teacher_attempt_tokens", "teacher"} <= set(rows["a"])
    assert info["in"] == info["out"] == 3 and info["flags"] == {"empty_thinking": 1, "empty_attempt": 1}
    assert cur.is_done("traces")


def test_a_key_no_row_has_is_refused_by_name(tmp_path):
    s = spec(tmp_path, from_fields={"thinking": "worked", "attempt": "answer"})
    cur = CurationDir(tmp_path / "cur")
    save_rows(cur, "collect", [{"id": "a", "question": "q1", "solution": "s", "answer": "1"}])
    cur.mark_done("collect", {})
    with pytest.raises(ConfigError, match="no row has the key 'worked'") as e:
        run_cpu_step(cur, s, "traces", "c.yaml")
    assert e.value.field == "traces.from_fields.thinking" and not cur.is_done("traces")


def test_traces_from_fields_is_one_cpu_task(tmp_path):
    stage, s = CurateStage(), spec(tmp_path, from_fields=FIELDS, shards=4, tensor_parallel_size=2)
    CurationDir(tmp_path / "cur").mark_done("collect", {})
    assert [sh.id for sh in stage.plan(s)] == ["traces-00000-of-00001"]
    assert stage.resources(s, load_cluster(REPO / "cluster.yaml").profile("h100")).gpus_per_node == 0
    assert not s.is_model_step("traces") and spec(tmp_path, model="t").is_model_step("traces")


@pytest.mark.parametrize(
    "traces, needle",
    [
        ({"model": "t", "from_fields": FIELDS}, "not both"),
        ({}, "traces.from_fields"),
        ({"from_fields": {"thinking": "solution"}}, "attempt"),
    ],
)
def test_traces_need_exactly_one_of_a_teacher_or_fields(tmp_path, traces, needle):
    with pytest.raises(ValidationError, match=needle):
        spec(tmp_path, **traces)
