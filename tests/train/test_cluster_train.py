"""Training on the real two-node SLURM test cluster (tests/cluster/start.sh): one process per node,
gloo, DeepSpeed ZeRO-3 on the CPU, a 2-layer SmolLM2 on 8 s1-format examples. About 1 minute per job."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from s1slurm.core.rundir import RunDir
from s1slurm.train.paths import TrainPaths
from s1slurm.train.recipe import total_steps
from tests.conftest import SHARED_DATA
from tests.spine.test_cli import s1slurm
from tests.train.test_local_training import check_model_folder

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.usefixtures("slurm_cluster"),
    pytest.mark.timeout(900),
]
pytest.importorskip("deepspeed")

EXPECTED_STEPS = total_steps(8, 3, world_size=2, micro_batch=1, accumulation=2)


EVAL_SPEC = f"""stage: eval
profile: ci
model: replaced-by-the-trained-folder
engine: transformers
dtype: float32
max_model_len: 1024
benchmarks: [{{name: math500, path: {SHARED_DATA / "benchmarks" / "math500.jsonl"}, limit: 2}}]
sweep: {{max_thinking_tokens: [16]}}
max_answer_tokens: 8
cluster: {{time: "00:10:00"}}
"""


def submit(workdir: Path, data: Path, extra: str = "") -> tuple[RunDir, str]:
    """Submit the smoke spec (jobs/train-smoke.yaml) on the given data; returns the run and job id."""
    text = (workdir / "jobs" / "train-smoke.yaml").read_text() + extra
    text = text.replace("../shared/data/pool/olympiadbench.jsonl", str(data))
    text = text.replace("fields: {question: question, trace: solution, answer: final_answer}", "fields: s1k")
    (workdir / "train.yaml").write_text(text)
    before = set((workdir / "runs").iterdir()) if (workdir / "runs").exists() else set()
    proc = s1slurm("--profile", "ci", "submit", "train", "--config", "train.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = set((workdir / "runs").iterdir()) - before
    run = RunDir.open(path)
    return run, run.read_manifest()["tasks"][0]["job_id"]


def job_state(job: str) -> str:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job], capture_output=True, text=True
    ).stdout.split()
    return out[0] if out else ""


def wait_done(run: RunDir, job: str, timeout: float = 600) -> TrainPaths:
    paths = TrainPaths(run)
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = job_state(job)
        if run.is_done(paths.shard) and state == "COMPLETED":
            return paths
        if state in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY") or state.startswith(
            "CANCELLED"
        ):
            break
        time.sleep(2)
    logs = "\n".join(p.read_text()[-3000:] for p in sorted(run.submitit_dir.glob("*_log.err")))
    raise AssertionError(f"job {job} ended as {job_state(job)!r} without finishing the run\n{logs}")


def sacct_times(job: str) -> tuple[str, str]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "Start,End", "-j", job], capture_output=True, text=True
    ).stdout.split()
    start, end = out[0].split("|")
    return start, end


def test_two_node_job_learns_and_its_model_is_evaluated_after_it(workdir, s1_jsonl):
    (workdir / "eval-after.yaml").write_text(EVAL_SPEC)
    run, job = submit(workdir, s1_jsonl, "eval_after: eval-after.yaml\n")
    script = next(run.sbatch_dir.iterdir()).read_text()
    assert "#SBATCH --nodes=2" in script and "#SBATCH --signal=USR2@120" in script
    paths = wait_done(run, job)
    summary = json.loads(paths.summary.read_text())
    assert summary["steps"] == EXPECTED_STEPS and summary["layout"]["world_size"] == 2
    curve = [row["loss"] for row in summary["loss_curve"]]
    assert len(curve) == EXPECTED_STEPS and curve[-1] < curve[0] - 1.0, curve
    [attempt] = summary["attempts"]
    assert attempt["attempt"] == f"{job}.0" and attempt["outcome"] == "completed"
    # one rank per node, each logging to its own file; node rank from the step's own SLURM_NODEID
    states = [json.loads(p.read_text()) for p in sorted(run.tasks_dir.glob("task-00000-rank-*.json"))]
    assert [(s["rank"], s["node"]) for s in states] == [(0, "node1"), (1, "node2")]
    assert [p.name for p in paths.rank_logs(attempt["attempt"])] == ["rank-000.log", "rank-001.log"]
    launcher_log = next(run.submitit_dir.glob(f"{job}_0_log.err")).read_text()
    # MASTER_ADDR: the first node's address as it resolves its own name (node1 and node2 share this host)
    from s1slurm.train.supervisor import own_address

    first_node_addr = own_address(socket.gethostname(), multi_node=True)
    assert f"--nnodes=2 --node_rank=0 --nproc_per_node=1 --master_addr={first_node_addr} " in launcher_log
    assert "--node_rank=1" in next(run.submitit_dir.glob(f"{job}_1_log.err")).read_text()
    check_model_folder(paths.model_dir)
    # The follow-up evaluation: submitted by the training job, held until it ended successfully.
    follow = json.loads((paths.root / "eval_after.json").read_text())
    assert "error" not in follow, follow
    assert follow["dependency"] == f"afterok:{job}"
    eval_run = RunDir.open(follow["run"])
    [eval_job] = follow["jobs"]
    assert f"#SBATCH --dependency=afterok:{job}" in next(eval_run.sbatch_dir.iterdir()).read_text()
    assert eval_run.read_manifest()["spec"]["model"] == str(paths.model_dir)
    deadline = time.time() + 300
    while (state := job_state(eval_job)) != "COMPLETED":  # one reading per round: no race with the job
        assert time.time() < deadline and state in ("PENDING", "RUNNING", ""), state
        time.sleep(2)
    assert sacct_times(eval_job)[0] >= sacct_times(job)[1]  # started once training had ended
    records = [
        json.loads(line)
        for p in eval_run.outputs_dir.glob("*/records.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(records) == 2 and all(r["thinking_tokens"] > 0 for r in records)


def test_usr2_mid_job_checkpoints_requeues_and_resumes_at_the_next_step(workdir, s1_jsonl):
    run, job = submit(workdir, s1_jsonl)
    paths = TrainPaths(run)
    deadline = time.time() + 300
    while not (paths.steps_log.exists() and len(paths.steps_log.read_text().splitlines()) >= 2):
        assert time.time() < deadline and job_state(job) in ("PENDING", "RUNNING", ""), job_state(job)
        time.sleep(0.3)
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    paths = wait_done(run, job)
    summary = json.loads(paths.summary.read_text())
    first, second = summary["attempts"]
    assert (first["attempt"], second["attempt"]) == (f"{job}.0", f"{job}.1")
    assert first["outcome"] == "stopped" and first["signal_received_at"] is not None
    saved = first["last_step"]
    assert 2 <= saved < EXPECTED_STEPS
    assert second["resumed_step"] == saved and second["first_step"] == saved + 1
    assert summary["steps"] == second["last_step"] == EXPECTED_STEPS
    assert [row["step"] for row in summary["loss_curve"]] == list(range(1, EXPECTED_STEPS + 1))
    requeues = summary["requeues"]
    assert (requeues["preemptions"], requeues["timeouts"], requeues["total"]) == (1, 0, 1)
    event = requeues["events"][0]
    assert event["checkpoint_step"] == saved and event["signal"] == "SIGUSR2" and event["job_id"] == job
    # the ranks' grace: the smoke spec's signal_delay_s (120 s) minus its stop margin (10 s)
    assert event["grace_s"] == 110
    log = next(run.submitit_dir.glob(f"{job}_0_log.err")).read_text()
    assert "requeued after preemption" in log and "signal_delay_s 120 s - stop margin 10 s" in log


def next_job_ids(count: int = 30) -> list[str]:
    """The job ids SLURM hands out next (others may submit meanwhile: a range of them)."""
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    first = int(re.search(r"NEXT_JOB_ID\s*=\s*(\d+)", out).group(1))
    return [str(first + i) for i in range(count)]


def test_a_real_preemption_checkpoints_in_the_grace_requeues_and_resumes_despite_a_busy_port(
    workdir, s1_jsonl
):
    """SLURM's own preemption (partition_prio, REQUEUE, SIGTERM then SIGKILL after GraceTime), with the
    rendezvous port the job would take already in use when it starts."""
    from s1slurm.train.supervisor import port_candidates

    busy = []
    for job_id in next_job_ids():  # hold the first port each likely job id would try
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port_candidates(job_id, 0)[0]))
            sock.listen()
            busy.append(sock)
        except OSError:
            sock.close()
    try:
        run, job = submit(workdir, s1_jsonl, "  partition: preemptible\n")
        paths = TrainPaths(run)
        deadline = time.time() + 300
        while not (paths.steps_log.exists() and len(paths.steps_log.read_text().splitlines()) >= 2):
            assert time.time() < deadline and job_state(job) in ("PENDING", "RUNNING", ""), job_state(job)
            time.sleep(0.3)
        urgent = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "-p",
                "urgent",
                "-N2",
                "--gpus-per-node=8",
                "-c1",
                "-o",
                "/dev/null",
                "--wrap",
                "sleep 2",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        paths = wait_done(run, job)
    finally:
        for sock in busy:
            sock.close()
    summary = json.loads(paths.summary.read_text())
    first, second = summary["attempts"]
    assert first["outcome"] == "stopped" and first["signal"] == "SIGTERM"
    saved = first["last_step"]
    assert second["resumed_step"] == saved and second["first_step"] == saved + 1
    assert summary["steps"] == second["last_step"] == EXPECTED_STEPS
    requeues = summary["requeues"]
    assert (requeues["preemptions"], requeues["timeouts"]) == (1, 0)
    event = requeues["events"][0]
    assert event["signal"] == "SIGTERM" and event["checkpoint_step"] == saved
    # GraceTime 120 s of partition "preemptible" (tests/cluster/start.sh) minus the 10 s stop margin
    assert event["grace_s"] == 110
    log = next(run.submitit_dir.glob(f"{job}_0_log.err")).read_text()
    assert "the partition's GraceTime 120 s" in log and "rendezvous ports in use" in log
    assert "death signal" not in log  # torchrun left SIGTERM to the ranks instead of stopping them
    assert job_state(urgent.stdout.strip()) == "COMPLETED"
