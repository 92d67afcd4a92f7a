"""Submissions through s1slurm to the real two-node SLURM test cluster (tests/cluster/start.sh)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from s1slurm.core.rundir import RunDir
from s1slurm.launch.task_status import read_status

from .test_cli import assert_clean_error, s1slurm

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("slurm_cluster")]


def submit_probe(workdir: Path, spec: str, *extra: str) -> RunDir:
    (workdir / "spec.yaml").write_text(spec)
    before = set((workdir / "runs").iterdir()) if (workdir / "runs").exists() else set()
    proc = s1slurm("--profile", "ci", "submit", "probe", "--config", "spec.yaml", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [new] = set((workdir / "runs").iterdir()) - before
    return RunDir.open(new)


def wait_finished(run: RunDir, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = read_status(run)
        if status.finished and all(
            t.slurm_state in (None, "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for t in status.tasks
        ):
            return status
        time.sleep(1)
    raise AssertionError(f"run did not finish in {timeout}s: {[(t.index, t.state) for t in status.tasks]}")


def test_probe_array_of_six_runs_at_most_two_at_a_time(workdir):
    run = submit_probe(workdir, "stage: probe\ntasks: 6\nhold_s: 3\ncluster:\n  array_parallelism: 2\n")
    manifest = run.read_manifest()
    [array] = manifest["submissions"][0]["arrays"]
    assert array["size"] == 6 and array["array"]
    assert "#SBATCH --array=0-5%2" in (run.path / array["script"]).read_text()
    status = wait_finished(run)
    assert [t.state for t in status.tasks] == ["DONE"] * 6
    assert [t.job_id for t in status.tasks] == [f"{array['job_id']}_{i}" for i in range(6)]
    # Each task holds its slot 3 s: with %2 no more than two probes may overlap.
    starts = sorted(json.loads(p.read_text())["time"] for p in run.outputs_dir.glob("*/rank-000.json"))
    assert len(starts) == 6
    for i in range(2, 6):
        assert starts[i] - starts[i - 2] >= 2.5, starts
    reports = [json.loads(p.read_text()) for p in run.outputs_dir.glob("*/rank-000.json")]
    assert {r["slurm"]["SLURM_ARRAY_JOB_ID"] for r in reports} == {array["job_id"]}
    assert sorted(int(r["slurm"]["SLURM_ARRAY_TASK_ID"]) for r in reports) == list(range(6))


def test_two_node_job_gets_ranks_zero_and_one_on_node1_and_node2(workdir):
    run = submit_probe(workdir, "stage: probe\ntasks: 1\ncluster:\n  nodes: 2\n  gpus_per_node: 8\n")
    script = next(run.sbatch_dir.iterdir()).read_text()
    assert "#SBATCH --nodes=2" in script and "#SBATCH --gpus-per-node=8" in script
    wait_finished(run)
    ranks = {}
    for p in run.outputs_dir.glob("*/rank-*.json"):
        r = json.loads(p.read_text())
        ranks[r["dist"]["global_rank"]] = r
    assert sorted(ranks) == [0, 1]
    assert ranks[0]["slurm_node"] == "node1" and ranks[1]["slurm_node"] == "node2"
    assert all(r["dist"]["world_size"] == 2 and r["dist"]["master_addr"] == "node1" for r in ranks.values())
    assert ranks[1]["dist"]["node_rank"] == 1
    assert ranks[0]["gpus"]["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    logs = s1slurm("logs", str(run.path), "--task", "0")
    assert "rank 0" in logs.stdout and "rank 1" in logs.stdout


def test_array_larger_than_max_array_size_is_split_transparently(workdir):
    run = submit_probe(workdir, "stage: probe\ntasks: 5\ncluster:\n  max_array_size: 2\n")
    arrays = run.read_manifest()["submissions"][0]["arrays"]
    assert [a["size"] for a in arrays] == [2, 2, 1] and len({a["job_id"] for a in arrays}) == 3
    status = wait_finished(run)
    assert [t.state for t in status.tasks] == ["DONE"] * 5
    assert len({t.job_id.split("_")[0] for t in status.tasks}) == 3


def test_status_logs_follow_and_cancel_on_a_running_array(workdir):
    run = submit_probe(workdir, "stage: probe\ntasks: 3\nhold_s: 300\n")
    deadline = time.time() + 60
    while not any(t.state == "RUNNING" for t in read_status(run).tasks):
        assert time.time() < deadline, "no task started"
        time.sleep(1)
    status = s1slurm("status", str(run.path))
    assert status.returncode == 0 and "RUNNING" in status.stdout
    cancelled = s1slurm("cancel", str(run.path))
    assert cancelled.returncode == 0 and "scancel" in cancelled.stdout
    final = wait_finished(run, timeout=60)
    assert {t.state for t in final.tasks} == {"CANCELLED"}
    follow = s1slurm("logs", str(run.path), "--task", "0", "--follow")
    assert follow.returncode == 0 and "probe probe-00000-of-00003" in follow.stdout


def test_resume_submits_only_the_shards_without_done_marker(workdir):
    run = submit_probe(workdir, "stage: probe\ntasks: 3\n")
    wait_finished(run)
    for marker in ("probe-00001-of-00003", "probe-00002-of-00003"):
        (run.done_dir / f"{marker}.done").unlink()
    proc = s1slurm("resume", str(run.path))
    assert proc.returncode == 0 and "resumed 2 task(s): 1, 2" in proc.stdout
    manifest = run.read_manifest()
    assert len(manifest["submissions"]) == 2 and manifest["submissions"][1]["tasks"] == [1, 2]
    status = wait_finished(run)
    assert [t.state for t in status.tasks] == ["DONE"] * 3
    assert len(list(run.sbatch_dir.iterdir())) == 2  # the first script is kept, not overwritten


def test_test_only_asks_slurm_and_submits_nothing(workdir):
    (workdir / "spec.yaml").write_text("stage: probe\ntasks: 2\n")
    proc = s1slurm("--profile", "ci", "submit", "probe", "--config", "spec.yaml", "--test-only")
    assert proc.returncode == 0, proc.stderr
    assert "to start at" in proc.stdout and "node" in proc.stdout
    assert not (workdir / "runs").exists()


def test_a_slurm_refusal_is_shown_in_slurms_own_words(workdir):
    (workdir / "spec.yaml").write_text("stage: probe\ncluster:\n  partition: nosuch\n")
    assert_clean_error(
        s1slurm("--profile", "ci", "submit", "probe", "--config", "spec.yaml"),
        "invalid partition specified: nosuch",
    )
    assert_clean_error(
        s1slurm("--profile", "ci", "submit", "probe", "--config", "spec.yaml", "--test-only"),
        "invalid partition specified: nosuch",
    )


def test_a_hostile_job_name_is_harmless(workdir, tmp_path):
    marker = tmp_path / "pwned"
    run = submit_probe(workdir, f"stage: probe\nname: 'x; touch {marker}'\n")
    wait_finished(run)
    assert not marker.exists()
    job = run.read_manifest()["tasks"][0]["job_id"]
    expected, names = f"x; touch {marker}", {}
    for _ in range(20):  # accounting can lag the controller by a few seconds
        lines = subprocess.run(
            ["sacct", "-n", "-P", "-o", "JobID,JobName", "-j", job], capture_output=True, text=True
        ).stdout.splitlines()
        names = dict(line.split("|", 1) for line in lines if "|" in line)
        if names.get(job) == expected:
            break
        time.sleep(0.5)
    assert names.get(job) == expected, names


def test_submitting_from_inside_a_job_does_not_inherit_its_allocation(workdir):
    """Variables of an enclosing job (as when training submits its evaluation) must not leak into sbatch."""
    import os

    inherited = dict(
        os.environ,
        SLURM_JOB_ID="999999",
        SLURM_NTASKS="16",
        SLURM_JOB_NODELIST="gpu[1-2]",
        SBATCH_PARTITION="nosuch",
        SBATCH_TIMELIMIT="9999",
        SRUN_CPUS_PER_TASK="64",
        RANK="3",
        WORLD_SIZE="16",
        MASTER_ADDR="gpu1",
    )
    (workdir / "spec.yaml").write_text("stage: probe\ntasks: 1\n")
    proc = s1slurm("--profile", "ci", "submit", "probe", "--config", "spec.yaml", env=inherited)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # SBATCH_PARTITION=nosuch would be refused
    [run_path] = list((workdir / "runs").iterdir())
    status = wait_finished(RunDir.open(run_path))
    assert [t.state for t in status.tasks] == ["DONE"]
    report = json.loads(next(run_path.glob("outputs/*/rank-000.json")).read_text())
    assert report["slurm"]["SLURM_JOB_ID"] != "999999" and report["slurm"]["SLURM_NTASKS"] == "1"
