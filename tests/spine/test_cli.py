"""The s1slurm command as a user runs it: bad input gives exit code 2 and one clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def s1slurm(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in out, (needle, out)


def test_help_lists_every_command(workdir):
    proc = s1slurm("--help")
    for cmd in ("submit", "status", "logs", "cancel", "resume", "report", "demo", "init", "profiles"):
        assert cmd in proc.stdout


def test_unknown_key_in_a_job_spec(workdir):
    (workdir / "bad.yaml").write_text("stage: probe\ntasks: 2\ntaks: 3\n")
    assert_clean_error(
        s1slurm("submit", "probe", "--config", "bad.yaml"), "bad.yaml", "taks", "unknown key", "tasks"
    )


def test_wrong_type_in_a_job_spec(workdir):
    (workdir / "bad.yaml").write_text("stage: probe\ntasks: many\n")
    assert_clean_error(
        s1slurm("submit", "probe", "--config", "bad.yaml"), "bad.yaml", "field 'tasks'", "integer"
    )


def test_wrong_type_in_a_cluster_override_names_the_spec_file(workdir):
    (workdir / "bad.yaml").write_text("stage: probe\ncluster:\n  nodes: -2\n")
    assert_clean_error(s1slurm("submit", "probe", "--config", "bad.yaml"), "bad.yaml", "cluster.nodes")


def test_missing_profile(workdir):
    assert_clean_error(
        s1slurm("--profile", "nope", "submit", "probe", "--config", "jobs/probe.yaml"),
        "cluster.yaml",
        "no profile named 'nope'",
        "ci",
        "h100",
        "local",
    )


def test_missing_config_file(workdir):
    assert_clean_error(
        s1slurm("submit", "probe", "--config", "jobs/missing.yaml"), "jobs/missing.yaml", "file not found"
    )


def test_missing_cluster_file(workdir):
    assert_clean_error(
        s1slurm("--cluster", "other.yaml", "submit", "probe", "--config", "jobs/probe.yaml"),
        "other.yaml",
        "file not found",
    )


def test_unreachable_sbatch(workdir):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # python, but no SLURM commands
    assert_clean_error(
        s1slurm("--profile", "ci", "submit", "probe", "--config", "jobs/probe.yaml", env=env),
        "sbatch was not found",
    )
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())


def test_unknown_stage_lists_the_stages(workdir):
    (workdir / "c.yaml").write_text("stage: nosuchstage\n")
    assert_clean_error(
        s1slurm("submit", "nosuchstage", "--config", "c.yaml"),
        "unknown stage 'nosuchstage'",
        "probe",
        "eval",
        "train",
        "curate",
    )


def test_dry_run_prints_a_complete_sbatch_script_with_the_profile_options(workdir):
    proc = s1slurm("--profile", "ci", "submit", "probe", "--config", "jobs/probe.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert "#!/bin/bash" in script and "#SBATCH --partition=debug" in script
    assert "#SBATCH --array=0-3%4" in script and "#SBATCH --job-name=s1slurm-probe" in script
    assert "#SBATCH --time=5" in script and "#SBATCH --mem=2GB" in script
    assert "-m submitit.core._submit" in script
    assert not (workdir / "runs").exists()  # nothing submitted, nothing created


def test_local_probe_runs_in_the_foreground_and_records_everything(workdir):
    proc = s1slurm("submit", "probe", "--config", "jobs/probe.yaml")
    assert proc.returncode == 0, proc.stderr
    [run] = list((workdir / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stage"] == "probe" and manifest["executor"] == "local"
    assert manifest["spec"]["tasks"] == 4 and manifest["s1slurm_version"]
    assert len(list((run / "done").glob("*.done"))) == 4
    report = json.loads((run / "outputs" / "probe-00002-of-00004" / "rank-000.json").read_text())
    assert report["cpus"] >= 1 and report["memory"]["total_gb"] > 0 and report["python"]["version"]
    status = s1slurm("status", str(run))
    assert status.returncode == 0 and "4/4 shards done" in status.stdout
    watch = s1slurm("status", str(run), "--watch", "--interval", "0.2")
    assert (
        watch.returncode == 0 and "4/4 shards done" in watch.stdout and "probe-00003-of-00004" in watch.stdout
    )
    logs = s1slurm("logs", str(run), "--task", "2")
    assert "probe probe-00002-of-00004" in logs.stdout
    assert_clean_error(s1slurm("logs", str(run), "--task", "9"), "no task 9")


def test_status_of_a_folder_that_is_not_a_run(workdir):
    assert_clean_error(s1slurm("status", str(workdir)), "not a run directory")


def test_a_failing_local_task_makes_submit_exit_non_zero_and_keeps_the_others(workdir):
    (workdir / "fail.yaml").write_text(
        "stage: probe\ntasks: 2\nbarrier_timeout_s: 0.01\ncluster:\n  nodes: 1\n"
    )
    # The probe's rank 0 waits for ranks that never come when told the world is bigger than it is.
    env = dict(
        os.environ,
        SLURM_JOB_ID="1",
        SLURM_PROCID="0",
        SLURM_LOCALID="0",
        SLURM_NODEID="0",
        SLURM_NTASKS="2",
        SLURM_JOB_NUM_NODES="1",
        SLURM_JOB_NODELIST="localhost",
        SUBMITIT_EXECUTOR="slurm",
    )
    proc = s1slurm("submit", "probe", "--config", "fail.yaml", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 succeeded, 2 failed" in proc.stdout and "Traceback" not in proc.stdout
    [run] = list((workdir / "runs").iterdir())
    states = [json.loads(p.read_text())["state"] for p in sorted((run / "tasks").glob("*.json"))]
    assert states == ["failed", "failed"]
    assert len(list((run / "outputs").glob("*/rank-000.json"))) == 2  # what was computed is kept


def test_the_command_line_profile_wins_over_the_specs(workdir):
    (workdir / "p.yaml").write_text("stage: probe\nprofile: ci\ntasks: 1\n")
    proc = s1slurm("--profile", "local", "submit", "probe", "--config", "p.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "ran 1 task(s) of probe locally" in proc.stdout


def test_a_local_task_whose_process_died_is_shown_lost_and_watch_ends(workdir):
    assert s1slurm("submit", "probe", "--config", "jobs/probe.yaml").returncode == 0
    [run] = list((workdir / "runs").iterdir())
    (run / "done" / "probe-00001-of-00004.done").unlink()
    state = run / "tasks" / "task-00001-rank-000.json"
    data = json.loads(state.read_text())
    dead = subprocess.Popen(["true"])
    dead.wait()
    data.update(state="running", pid=dead.pid)
    state.write_text(json.dumps(data))
    proc = s1slurm("status", str(run), "--watch", "--interval", "0.2")
    assert proc.returncode == 0 and "LOST" in proc.stdout
    resumed = s1slurm("resume", str(run))
    assert resumed.returncode == 0 and "resumed 1 task(s): 1" in resumed.stdout
    assert (run / "done" / "probe-00001-of-00004.done").is_file()


def test_resume_refuses_when_slurm_cannot_be_asked(workdir, tmp_path):
    from s1slurm.config.cluster import load_cluster
    from s1slurm.launch.base import Submission
    from s1slurm.launch.records import SubmissionRecord
    from s1slurm.stages import get_stage
    from s1slurm.stages import submission as sub

    resolved = sub.resolve(
        get_stage("probe"),
        workdir / "jobs" / "probe.yaml",
        load_cluster(workdir / "cluster.yaml"),
        workdir / "cluster.yaml",
        "ci",
    )
    run, manifest = sub.create_run(resolved, ["test"])
    SubmissionRecord(run, manifest).update(
        Submission("slurm", arrays=[{"job_id": "4242"}], task_jobs={i: f"4242_{i}" for i in range(4)})
    )
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no sacct, no sbatch
    assert_clean_error(s1slurm("resume", str(run.path), env=env), "could not be asked", "refusing")


def test_a_resource_error_found_by_a_stage_names_the_spec_file(workdir):
    data = REPO.parent / "shared" / "data" / "benchmarks" / "math500.jsonl"
    (workdir / "tp.yaml").write_text(
        f"stage: eval\nmodel: smollm2\nengine: vllm\ntensor_parallel_size: 16\n"
        f"benchmarks:\n  - {{name: math500, path: {data}, limit: 1}}\n"
        f"delimiters: {{thinking_end: ['<|im_start|>']}}\n"
    )
    assert_clean_error(
        s1slurm("--profile", "h100", "submit", "eval", "--config", "tp.yaml", "--dry-run"),
        "tp.yaml",
        "tensor_parallel_size",
        "at most 8",
    )
