"""Operations on the real two-node SLURM test cluster: a task killed with -9 is LOST and resumed
alone; status without slurmdbd and without accounting; MaxArraySize from the cluster with the
parallelism limit across chunks; a refused second chunk; pipelines in order and stopped by a failure.

Tests that change the cluster's configuration go through tests/cluster/accounting.sh and always
restore it (others use the cluster too).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from s1slurm.core.rundir import RunDir
from s1slurm.eval.records import EvalRecord
from s1slurm.launch.scheduler import Scheduler
from s1slurm.launch.task_status import read_status
from tests.conftest import REPO, SHARED_DATA

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("slurm_cluster")]
ACCOUNTING = REPO / "tests" / "cluster" / "accounting.sh"


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def submit(workdir: Path, stage: str, spec: dict, name: str) -> RunDir:
    (workdir / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    before = set((workdir / "runs").glob(f"{stage}-*")) if (workdir / "runs").exists() else set()
    proc = cli("--profile", "ci", "submit", stage, "--config", f"{name}.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [new] = set((workdir / "runs").glob(f"{stage}-*")) - before
    return RunDir.open(new)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def finished(run: RunDir):
    status = read_status(run)
    return status if status.finished else None


def cluster_change(*args: str) -> None:
    proc = subprocess.run(["bash", str(ACCOUNTING), *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def altered_cluster():
    """Change the cluster with accounting.sh; the normal configuration is back afterwards, whatever happens."""
    try:
        yield cluster_change
    finally:
        cluster_change("restore")


@pytest.mark.slow
def test_a_task_killed_with_sigkill_is_lost_and_resume_reruns_only_it(workdir):
    spec = {
        "stage": "eval",
        "name": "eval-kill",
        "model": "smollm2",
        "engine": "transformers",
        "benchmarks": [
            {"name": "math500", "path": str(SHARED_DATA / "benchmarks" / "math500.jsonl"), "limit": 6}
        ],
        "sweep": {"max_thinking_tokens": [16]},
        "delimiters": {"thinking_end": ["<|im_start|>"]},
        "max_answer_tokens": 4,
        "batch_size": 1,
        "shards": 2,
        "cluster": {"time": "00:15:00", "mem_gb": 3},
    }
    run = submit(workdir, "eval", spec, "eval-kill")
    records = run.outputs_dir / "math500-00001-of-00002" / "records.jsonl"
    wait_for(
        lambda: records.exists() and records.read_text().count("\n") >= 1,
        300,
        "task 1's first record",
        interval=0.1,
    )
    state = json.loads(run.task_state_path(1, 0).read_text())
    assert state["state"] == "running"
    os.kill(int(state["pid"]), signal.SIGKILL)  # no state written, no marker: only SLURM sees it die

    lost = wait_for(lambda: (s := read_status(run)).tasks[1].state == "LOST" and s, 120, "task 1 LOST")
    assert "without recording" in lost.tasks[1].error
    first_job = lost.tasks[1].job_id
    wait_for(lambda: read_status(run).tasks[0].done, 600, "task 0 to finish")
    proc = cli("resume", str(run.path), cwd=workdir)
    assert proc.returncode == 0 and "resumed 1 task(s): 1" in proc.stdout, proc.stdout + proc.stderr
    manifest = run.read_manifest()
    assert manifest["submissions"][-1]["tasks"] == [1]
    assert manifest["tasks"][1]["job_ids"] == [first_job, manifest["tasks"][1]["job_id"]]
    final = wait_for(lambda: finished(run), 600, "the resumed task")
    assert [t.state for t in final.tasks] == ["DONE", "DONE"]
    keys = [
        EvalRecord.from_dict(json.loads(line)).key
        for f in run.outputs_dir.glob("*/records.jsonl")
        for line in f.read_text().splitlines()
    ]
    question_ids = manifest["eval_plan"]["benchmarks"]["math500"]["question_ids"]
    assert len(keys) == len(set(keys)) == len(question_ids) == 6


def _probe(tasks: int, **cluster) -> dict:
    return {"stage": "probe", "tasks": tasks, "hold_s": 2, "cluster": cluster}


def _failing_probe(tasks: int) -> dict:
    return {"stage": "probe", "tasks": tasks, "cluster": {"setup": ["exit 3"]}}  # the batch script fails


def test_status_is_right_without_slurmdbd_and_without_accounting(workdir, altered_cluster):
    # slurmdbd stopped: sacct fails; squeue still knows queued, running and recently ended jobs.
    altered_cluster("dbd-stop")
    good, bad = (
        submit(workdir, "probe", _probe(3), "good"),
        submit(workdir, "probe", _failing_probe(2), "bad"),
    )
    running = wait_for(lambda: (s := read_status(good)).counts.get("RUNNING") and s, 60, "a running probe")
    assert set(running.counts) <= {"RUNNING", "PENDING", "DONE"}
    assert [t.state for t in wait_for(lambda: finished(good), 120, "probes").tasks] == ["DONE"] * 3
    assert [t.state for t in wait_for(lambda: finished(bad), 60, "failing probes").tasks] == ["FAILED"] * 2
    # A job neither squeue nor (failing) sacct knows, whose task left no end: LOST, and sacct's failure shown.
    manifest = good.read_manifest()
    manifest["tasks"][0]["job_id"] = "987654"
    (good.done_dir / f"{manifest['tasks'][0]['shard_id']}.done").unlink()
    good.manifest_path.write_text(json.dumps(manifest))
    status = read_status(good, scheduler=Scheduler(retry_delay_s=0.0))
    assert status.tasks[0].state == "LOST" and status.accounting == "failing"
    altered_cluster("dbd-start")

    # Accounting disabled in slurm.conf (and MaxArraySize=5): sacct answers "disabled".
    altered_cluster("off")
    altered_cluster("max-array-size", "5")
    wide = submit(workdir, "probe", _probe(12, array_parallelism=2), "wide")
    bad = submit(workdir, "probe", _failing_probe(2), "bad2")
    arrays = wide.read_manifest()["submissions"][0]["arrays"]
    assert [a["size"] for a in arrays] == [5, 5, 2]  # split at the cluster's MaxArraySize (indices 0..4)
    final = wait_for(lambda: finished(wide), 180, "twelve probes")
    assert [t.state for t in final.tasks] == ["DONE"] * 12
    assert [t.state for t in wait_for(lambda: finished(bad), 60, "failing probes").tasks] == ["FAILED"] * 2
    gone = read_status(good, scheduler=Scheduler(retry_delay_s=0.0))
    assert gone.accounting == "disabled" and gone.tasks[0].state == "LOST"
    # %2 held across the three arrays: never more than two probes at once.
    spans = sorted(
        (json.loads(p.read_text())["time"], json.loads(p.read_text())["time"] + 2)
        for p in wide.outputs_dir.glob("*/rank-000.json")
    )
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e - 0.3) <= 2, spans


def test_a_refused_second_chunk_keeps_the_first_ids_and_cancel_reaches_them(workdir, altered_cluster):
    altered_cluster("submit-limit", "s1refuse", "3")
    (workdir / "six.yaml").write_text(
        yaml.safe_dump(
            {
                "stage": "probe",
                "tasks": 6,
                "hold_s": 120,
                "cluster": {"account": "s1refuse", "max_array_size": 3},
            }
        )
    )
    proc = cli("--profile", "ci", "submit", "probe", "--config", "six.yaml", cwd=workdir)
    assert proc.returncode == 2 and "after accepting 1" in proc.stderr and "job submit limit" in proc.stderr
    [path] = (workdir / "runs").glob("probe-*")
    run = RunDir.open(path)
    manifest = run.read_manifest()
    first = manifest["submissions"][0]["arrays"][0]["job_id"]
    assert [t["job_id"] for t in manifest["tasks"]] == [f"{first}_{i}" for i in range(3)] + [None] * 3
    status = read_status(run)
    assert [t.state for t in status.tasks][3:] == ["NOT SUBMITTED"] * 3
    assert all(t.state in ("PENDING", "RUNNING") for t in status.tasks[:3])
    proc = cli("cancel", str(path), "--task", "1", cwd=workdir)
    assert proc.returncode == 0 and f"scancel {first}_1" in proc.stdout
    one = wait_for(
        lambda: (s := read_status(run)).tasks[1].state == "CANCELLED" and s, 60, "task 1 cancelled"
    )
    assert one.tasks[0].state in ("PENDING", "RUNNING") and one.tasks[2].state in ("PENDING", "RUNNING")
    proc = cli("cancel", str(path), cwd=workdir)
    assert proc.returncode == 0 and f"scancel {first}" in proc.stdout
    final = wait_for(lambda: (s := read_status(run)).finished and s, 60, "cancellation")
    assert [t.state for t in final.tasks] == ["CANCELLED"] * 3 + ["NOT SUBMITTED"] * 3
    cancellations = run.read_manifest()["cancellations"]
    assert [(c["task"], c["jobs"]) for c in cancellations] == [(1, [f"{first}_1"]), (None, [first])]


def _pipeline(workdir: Path, name: str, first: dict, second: dict | None = None) -> RunDir:
    (workdir / f"{name}-first.yaml").write_text(yaml.safe_dump(first))
    (workdir / f"{name}-second.yaml").write_text(yaml.safe_dump(second or {"stage": "probe", "tasks": 2}))
    (workdir / "step.yaml").write_text(yaml.safe_dump({"stage": "probe", "tasks": 2}))
    spec = {
        "stage": "pipeline",
        "name": name,
        "steps": [
            {"stage": "probe", "config": f"{name}-first.yaml", "name": "first"},
            {"stage": "probe", "config": f"{name}-second.yaml", "name": "second"},
            {"stage": "probe", "config": "step.yaml", "name": "third"},
        ],
    }
    return submit(workdir, "pipeline", spec, name)


def _steps(run: RunDir, workdir: Path) -> list[dict]:
    return json.loads(cli("status", str(run.path), "--json", cwd=workdir).stdout)["runs"]


class TmuxScreen:
    """A command running in a detached tmux window of a fixed size, whose screen can be read."""

    def __init__(self, command: list[str], cwd: Path, width: int = 150, height: int = 50) -> None:
        import shlex
        import shutil
        import uuid

        if shutil.which("tmux") is None:
            pytest.fail("tmux is needed to test the live dashboard (apt-get install tmux)")
        self.name = f"s1slurm-{uuid.uuid4().hex[:8]}"
        env = f"PYTHONPATH={shlex.quote(str(REPO))} TERM=xterm-256color"
        shell = f"cd {shlex.quote(str(cwd))} && {env} {shlex.join(command)}; echo EXITED $?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell],
            check=True,
        )

    def text(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_three_step_pipelines_stop_at_a_failure_and_resume_at_the_first_unfinished_step(workdir, tmp_path):
    marker = tmp_path / "second-may-run"
    # "second" fails until the marker exists (its batch script exits first): a transient failure.
    flaky = _pipeline(
        workdir,
        "flaky",
        {"stage": "probe", "tasks": 2},
        {"stage": "probe", "tasks": 2, "cluster": {"setup": [f"test -e {marker} || exit 3"]}},
    )
    bad = _pipeline(workdir, "bad", _failing_probe(2))
    # The live dashboard of both, in a real terminal: it ends by itself once both have stopped.
    screen = TmuxScreen(
        [
            sys.executable,
            "-m",
            "s1slurm",
            "status",
            str(bad.path),
            str(flaky.path),
            "--watch",
            "--interval",
            "1",
        ],
        cwd=workdir,
    )
    try:
        seen = wait_for(
            lambda: (t := screen.text()) and "BLOCKED" in t and "first" in t and t,
            120,
            "the dashboard to show the blocked steps",
        )
        assert "step 'first' failed" in seen and "FAILED" in seen
        final = wait_for(lambda: (t := screen.text()) and "EXITED 0" in t and t, 240, "the dashboard to end")
        assert "recent failures" in final and "step 'second' failed" in final and "DONE" in final
        assert "━" in final  # progress bars drawn
    finally:
        screen.close()

    def ended(run):
        runs = _steps(run, workdir)
        return runs if runs[0]["finished"] else None

    bad_runs = ended(bad)
    assert [(s["name"], s["state"]) for s in bad_runs[0]["steps"]] == [
        ("first", "FAILED"),
        ("second", "BLOCKED"),
        ("third", "BLOCKED"),
    ]
    assert "SLURM: FAILED" in bad_runs[0]["steps"][0]["why"]
    assert len(bad_runs) == 2  # only the first step ever made a run
    assert "step 'first' failed" in cli("status", str(bad.path), cwd=workdir).stdout
    flaky_runs = ended(flaky)
    assert [s["state"] for s in flaky_runs[0]["steps"]] == ["DONE", "FAILED", "BLOCKED"]

    marker.touch()
    proc = cli("resume", str(flaky.path), cwd=workdir)
    assert proc.returncode == 0 and "resumed 2 task(s): 1, 2" in proc.stdout, proc.stdout + proc.stderr
    runs = wait_for(
        lambda: (r := ended(flaky)) and r[0]["steps"][2]["state"] == "DONE" and r,
        180,
        "the resumed pipeline to finish",
    )
    assert [s["state"] for s in runs[0]["steps"]] == ["DONE"] * 3
    first, second, third = (RunDir.open(r["path"]) for r in runs[1:])
    assert len(first.read_manifest()["submissions"]) == 1  # the finished step was left alone
    assert len(second.read_manifest()["submissions"]) == 2  # its run resumed, not started again
    times = [
        sorted(json.loads(p.read_text())["time"] for p in s.outputs_dir.glob("*/rank-000.json"))
        for s in (first, second, third)
    ]
    assert times[0][-1] < times[1][0] and times[1][-1] < times[2][0]  # in order
