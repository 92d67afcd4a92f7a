"""The curation on the real two-node SLURM test cluster: collect as one task, then (submitted by it,
with an afterok dependency) the traces step as a job array of SmolLM2 shards; one shard is cancelled
after its first record and ``s1slurm resume`` finishes it without duplicates."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from s1slurm.core.rundir import RunDir
from s1slurm.curate.store import CurationDir, read_jsonl
from s1slurm.launch.task_status import read_status
from tests.curate.data import clean_olympiad, write

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
    pytest.mark.usefixtures("slurm_cluster"),
]


def s1slurm(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def finished(run: RunDir):
    status = read_status(run)
    return status if status.finished and all(t.terminal for t in status.tasks) else None


# 20 questions a shard: after its first record, a shard still has about ten seconds of work, so the
# scancel below reaches it before it ends (with 5 a shard, a quiet machine finished it first)
QUESTIONS = 40


def test_steps_chain_as_slurm_jobs_and_a_cancelled_shard_resumes(workdir: Path, small_model: Path):
    pool = write(workdir / "pool.jsonl", clean_olympiad(QUESTIONS))
    spec = {
        "stage": "curate",
        "name": "curate-ci",
        "out": "cur",
        "steps": ["collect", "traces"],
        "sources": [{"name": "ob", "path": str(pool), "fields": {"id": "id", "answer": "final_answer"}}],
        "traces": {
            "model": str(small_model),
            "engine": "transformers",
            "max_thinking_tokens": 24,
            "max_answer_tokens": 4,
            "shards": 2,
            "batch_size": 1,
        },
        "cluster": {"time": "00:20:00", "mem_gb": 3},
    }
    (workdir / "curate.yaml").write_text(yaml.safe_dump(spec))
    proc = s1slurm(workdir, "--profile", "ci", "submit", "curate", "--config", "curate.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cur = CurationDir(workdir / "cur")
    [collect_run] = [RunDir.open(p) for p in (workdir / "runs").iterdir()]
    assert [t["shard_id"] for t in collect_run.read_manifest()["tasks"]] == ["collect-00000-of-00001"]

    nxt = wait(
        lambda: (
            (cur.step_dir("collect") / "next.json").is_file()
            and json.loads((cur.step_dir("collect") / "next.json").read_text())
        ),
        300,
        "the traces submission",
    )
    assert "error" not in nxt, nxt
    collect_job = collect_run.read_manifest()["tasks"][0]["job_id"]
    assert nxt["dependency"] == f"afterok:{collect_job}"
    traces_run = RunDir.open(nxt["run"])
    manifest = traces_run.read_manifest()
    [array] = manifest["submissions"][0]["arrays"]
    assert (
        array["size"] == 2
        and f"#SBATCH --dependency=afterok:{collect_job}" in (traces_run.path / array["script"]).read_text()
    )

    shard0 = cur.step_dir("traces") / "shards" / "traces-00000-of-00002.jsonl"
    wait(lambda: shard0.is_file() and shard0.read_text().count("\n") >= 1, 900, "a first trace record")
    assert not (cur.step_dir("traces") / "shards" / "traces-00000-of-00002.done").is_file(), (
        "the shard finished before it could be cancelled"
    )
    subprocess.run(["scancel", f"{array['job_id']}_0"], check=True)
    status = wait(lambda: finished(traces_run), 600, "the traces array to end")
    assert status.tasks[0].state != "DONE"

    proc = s1slurm(workdir, "resume", str(traces_run.path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    time.sleep(2)
    status = wait(lambda: finished(traces_run), 900, "the resumed shard")
    assert [t.state for t in status.tasks] == ["DONE", "DONE"], [(t.state, t.error) for t in status.tasks]
    assert cur.is_done("traces")  # a task is DONE only once its step's merge is written
    # the last shard writes next.json just after it is marked done: the chain's end is that file
    end = wait(
        lambda: (
            (cur.step_dir("traces") / "next.json").is_file()
            and json.loads((cur.step_dir("traces") / "next.json").read_text())
        ),
        60,
        "the end of the chain",
    )
    keys = [
        json.loads(line)["key"]
        for p in sorted(shard0.parent.glob("*.jsonl"))
        for line in p.read_text().splitlines()
        if line.strip().endswith("}")
    ]
    assert sorted(keys) == sorted(f"ob/{r['id']}" for r in clean_olympiad(QUESTIONS))  # each once
    assert [r["id"] for r in read_jsonl(cur.export_path("traces"))] == [
        f"ob/{r['id']}" for r in clean_olympiad(QUESTIONS)
    ]
    assert end["next"] is None
