"""An eval sweep as a real job array on the two-node SLURM test cluster (tests/cluster/start.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from s1slurm.core.rundir import RunDir
from s1slurm.eval.records import EvalRecord
from s1slurm.launch.task_status import read_status
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA / "benchmarks"
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]


def test_two_benchmarks_times_two_shards_finish_with_complete_records(workdir: Path):
    spec = {
        "stage": "eval",
        "name": "eval-ci",
        "model": "smollm2",
        "engine": "transformers",
        "benchmarks": [
            {"name": "math500", "path": str(DATA / "math500.jsonl"), "limit": 4},
            {"name": "aime24", "path": str(DATA / "aime24.jsonl"), "limit": 3},
        ],
        "sweep": {"max_thinking_tokens": [4, 8], "num_ignore": [1]},
        "delimiters": {"thinking_end": ["<|im_start|>"]},
        "max_answer_tokens": 4,
        "shards": 2,
        "cluster": {"time": "00:15:00", "mem_gb": 3},
    }
    (workdir / "eval.yaml").write_text(yaml.safe_dump(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "s1slurm", "--profile", "ci", "submit", "eval", "--config", "eval.yaml"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = list((workdir / "runs").iterdir())
    run = RunDir.open(path)
    manifest = run.read_manifest()
    [array] = manifest["submissions"][0]["arrays"]
    assert array["size"] == 4

    deadline = time.time() + 900
    while True:
        status = read_status(run)
        if status.finished and all(t.terminal for t in status.tasks):
            break
        assert time.time() < deadline, [(t.index, t.state) for t in status.tasks]
        time.sleep(2)
    assert [t.state for t in status.tasks] == ["DONE"] * 4, [
        (t.index, t.state, t.error) for t in status.tasks
    ]

    plan = manifest["eval_plan"]
    settings = ["max=4", "max=8", "ignore=1,max=8"]
    expected = {
        (b, s, q, 0) for b, info in plan["benchmarks"].items() for q in info["question_ids"] for s in settings
    }
    keys, _hosts = [], set()
    for file in run.outputs_dir.glob("*/records.jsonl"):
        for line in file.read_text().splitlines():
            r = EvalRecord.from_dict(json.loads(line))
            keys.append(r.key)
            assert r.run == run.name and r.shard == file.parent.name
    assert len(keys) == len(set(keys)) == len(expected) == 21 and set(keys) == expected
    assert [t.job_id for t in status.tasks] == [f"{array['job_id']}_{i}" for i in range(4)]
    assert {json.loads(p.read_text())["records"] for p in run.done_dir.glob("*.done")} <= {3, 6}
