"""How a task's state is decided from done markers, its own state files and one batched squeue/sacct
(unit tests: SLURM's commands are replaced by a fake at the subprocess boundary)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import make_shards
from s1slurm.launch.scheduler import CallResult, JobInfo, Scheduler, max_array_size, parse_squeue
from s1slurm.launch.task_status import decide, read_status, read_statuses
from s1slurm.stages import get_stage


def stage_ref(name: str) -> dict:
    """The stage reference a submission records in a run's manifest."""
    return get_stage(name).ref().to_dict()


class FakeSlurm:
    """squeue/sacct/scontrol answering from dictionaries; can be told to fail."""

    def __init__(self, live: dict[str, str] | None = None, accounting: dict[str, str] | None = None) -> None:
        self.live = live or {}
        self.accounting = accounting or {}
        self.calls: list[str] = []
        self.squeue_fails = False
        self.sacct_error: str | None = None

    def __call__(self, cmd: list[str], timeout: float) -> CallResult:
        name = Path(cmd[0]).name
        self.calls.append(name)
        if name == "squeue":
            if self.squeue_fails:
                return CallResult(False, error="slurm_load_jobs error: Unable to contact slurm controller")
            bases = cmd[cmd.index("-j") + 1].split(",")
            lines = [f"{j}|{s}|node1|0:05|None" for j, s in self.live.items() if j.split("_")[0] in bases]
            return CallResult(True, "\n".join(lines) + "\n")
        if name == "sacct":
            if self.sacct_error:
                return CallResult(False, error=self.sacct_error)
            bases = cmd[cmd.index("-j") + 1].split(",")
            lines = [
                f"{j}|{s}|node2|00:01:00|0:0|None"
                for j, s in self.accounting.items()
                if j.split("_")[0] in bases
            ]
            return CallResult(True, "\n".join(lines) + "\n")
        if name == "scontrol":
            return CallResult(True, "MaxArraySize            = 5\nMaxJobCount = 10000\n")
        raise AssertionError(cmd)


def scheduler(fake: FakeSlurm) -> Scheduler:
    return Scheduler(runner=fake, which=lambda name: f"/usr/bin/{name}", retry_delay_s=0.0)


def make_run(tmp_path: Path, job_ids: list[str | None], executor: str = "slurm") -> RunDir:
    run = RunDir.create(tmp_path / "runs", "probe")
    shards = make_shards("probe", len(job_ids))
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "probe",
            "stage_ref": stage_ref("probe"),
            "executor": executor,
            "profile_name": "ci",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "tasks": [
                {"index": i, "shard": s.to_dict(), "shard_id": s.id, "job_id": j}
                for i, (s, j) in enumerate(zip(shards, job_ids))
            ],
        },
    )
    return run


def own_state(run: RunDir, task: int, state: str, job: str, **extra) -> None:
    base, _, element = job.partition("_")
    atomic_write_json(
        run.task_state_path(task, 0),
        {
            "task": task,
            "rank": 0,
            "state": state,
            "time": time.time(),
            "host": "elsewhere",
            "pid": 1,
            "job_id": job,
            "array_job_id": base if element else None,
            "array_task_id": element or None,
            **extra,
        },
    )


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(done=True, submitted=True, local=False, own="running", info=None, live_ok=False), "DONE"),
        (dict(done=False, submitted=False, local=False, own=None, info=None, live_ok=True), "NOT SUBMITTED"),
        (
            dict(
                done=False, submitted=True, local=False, own=None, info=JobInfo("1", "PENDING"), live_ok=True
            ),
            "PENDING",
        ),
        (
            dict(
                done=False,
                submitted=True,
                local=False,
                own="running",
                info=JobInfo("1", "FAILED"),
                live_ok=True,
            ),
            "LOST",
        ),  # killed with -9: SLURM saw a failure, the task never wrote its end
        (
            dict(
                done=False,
                submitted=True,
                local=False,
                own="failed",
                info=JobInfo("1", "FAILED"),
                live_ok=True,
            ),
            "FAILED",
        ),
        (
            dict(
                done=False,
                submitted=True,
                local=False,
                own="running",
                info=JobInfo("1", "TIMEOUT"),
                live_ok=True,
            ),
            "TIMEOUT",
        ),
        (
            dict(
                done=False,
                submitted=True,
                local=False,
                own="running",
                info=JobInfo("1", "NODE_FAIL"),
                live_ok=True,
            ),
            "NODE_FAIL",
        ),
        (
            dict(
                done=False,
                submitted=True,
                local=False,
                own="running",
                info=JobInfo("1", "PREEMPTED"),
                live_ok=True,
            ),
            "PREEMPTED",
        ),
        (dict(done=False, submitted=True, local=False, own=None, info=None, live_ok=True), "LOST"),
        # cancelled by s1slurm while pending: the array element never reaches accounting
        (
            dict(done=False, submitted=True, local=False, own=None, info=None, live_ok=True, cancelled=True),
            "CANCELLED",
        ),
        (dict(done=False, submitted=True, local=False, own="running", info=None, live_ok=True), "LOST"),
        (dict(done=False, submitted=True, local=False, own="failed", info=None, live_ok=True), "FAILED"),
        (dict(done=False, submitted=True, local=False, own="running", info=None, live_ok=False), "RUNNING"),
        (dict(done=False, submitted=True, local=False, own=None, info=None, live_ok=False), "UNKNOWN"),
        (
            dict(done=False, submitted=True, local=True, own="running", info=None, live_ok=True, alive=False),
            "LOST",
        ),
        (dict(done=False, submitted=False, local=True, own=None, info=None, live_ok=True), "NOT RUN"),
    ],
)
def test_state_rules(kwargs, expected):
    assert decide(**kwargs) == expected


def test_one_squeue_and_one_sacct_for_a_thousand_tasks(tmp_path):
    jobs = [f"7_{i}" for i in range(1000)]
    run = make_run(tmp_path, jobs)
    fake = FakeSlurm(
        live={f"7_{i}": "RUNNING" for i in range(500)},
        accounting={f"7_{i}": "COMPLETED" for i in range(500, 1000)},
    )
    status = read_status(run, scheduler=scheduler(fake))
    assert fake.calls == ["squeue", "sacct"]
    assert status.counts == {"RUNNING": 500, "COMPLETED": 500}


def test_accounting_is_not_asked_about_jobs_of_finished_shards(tmp_path):
    run = make_run(tmp_path, ["8_0", "8_1"])
    run.mark_done(make_shards("probe", 2)[0])
    fake = FakeSlurm(live={"8_1": "RUNNING"})
    assert [t.state for t in read_status(run, scheduler=scheduler(fake)).tasks] == ["DONE", "RUNNING"]
    assert fake.calls == ["squeue"]


def test_several_runs_share_one_query(tmp_path):
    a, b = make_run(tmp_path, ["10_0"]), make_run(tmp_path, ["11"])
    fake = FakeSlurm(live={"10_0": "PENDING", "11": "RUNNING"})
    statuses = read_statuses([a, b], scheduler(fake))
    assert [s.tasks[0].state for s in statuses] == ["PENDING", "RUNNING"] and fake.calls == ["squeue"]


def test_without_accounting_a_task_gone_from_squeue_is_its_own_word_or_lost(tmp_path):
    run = make_run(tmp_path, ["12_0", "12_1", "12_2"])
    own_state(run, 0, "failed", "12_0", error="ValueError: boom")
    own_state(run, 1, "running", "12_1")
    fake = FakeSlurm()
    fake.sacct_error = "sacct: error: Slurm accounting storage is disabled"
    sched = scheduler(fake)
    status = read_status(run, scheduler=sched)
    assert [t.state for t in status.tasks] == ["FAILED", "LOST", "LOST"]
    assert status.accounting == "disabled" and status.tasks[0].error == "ValueError: boom"
    read_status(run, scheduler=sched)
    assert fake.calls == ["squeue", "sacct", "squeue"]  # a cluster without accounting is not asked again


def test_failing_squeue_is_retried_then_the_last_known_state_is_shown_stale(tmp_path):
    run = make_run(tmp_path, ["13_0", "13_1"])
    fake = FakeSlurm(live={"13_0": "RUNNING", "13_1": "PENDING"})
    first = read_status(run, scheduler=scheduler(fake))
    assert [t.state for t in first.tasks] == ["RUNNING", "PENDING"] and first.stale is None
    fake.squeue_fails, fake.sacct_error, fake.calls = (
        True,
        "sacct: error: Problem talking to the database",
        [],
    )
    # A new process (a later 's1slurm status'): the last answers come from the run folder.
    later = read_status(run, scheduler=scheduler(fake))
    assert fake.calls == ["squeue"] * 3 + ["sacct"] * 3  # two retries each
    assert [t.state for t in later.tasks] == ["RUNNING", "PENDING"]
    assert later.slurm_unavailable and all(t.stale_s is not None and t.stale_s >= 0 for t in later.tasks)
    assert any("squeue failed" in e for e in later.errors)


def test_squeue_lists_pending_array_elements_one_by_one_and_requeued_jobs():
    info = parse_squeue(
        "20_3|PENDING||0:00|JobArrayTaskLimit\n20_[4-6%2]|PENDING||0:00|Priority\n"
        "21|REQUEUED|node1|0:00|BeginTime\n22|CANCELLED by 0|node2|0:01|None\n"
    )
    assert sorted(info) == ["20_3", "20_4", "20_5", "20_6", "21", "22"]
    assert (
        info["20_5"].reason == "Priority"
        and info["21"].state == "REQUEUED"
        and info["22"].state == "CANCELLED"
    )


def test_max_array_size_is_read_from_scontrol():
    assert max_array_size(runner=FakeSlurm(), which=lambda n: n) == 5
    assert max_array_size(runner=FakeSlurm(), which=lambda n: None) is None


def test_resume_takes_what_is_neither_done_nor_queued_and_failed_only_leaves_cancelled_ones(tmp_path):
    from s1slurm.core.errors import SlurmError
    from s1slurm.launch.resume import pending_tasks

    run = make_run(tmp_path, ["70_0", "70_1", "70_2", "70_3", "70_4", None])
    run.mark_done(make_shards("probe", 6)[4])
    own_state(run, 3, "running", "70_3")
    fake = FakeSlurm(live={"70_0": "PENDING", "70_1": "FAILED", "70_2": "CANCELLED", "70_3": "FAILED"})
    assert [t.index for t in pending_tasks(run, scheduler=scheduler(fake))] == [1, 2, 3, 5]
    assert [t.index for t in pending_tasks(run, failed_only=True, scheduler=scheduler(fake))] == [
        1,
        3,
    ]  # 3: LOST
    fake.squeue_fails = True
    with pytest.raises(SlurmError, match="refusing to resubmit"):
        pending_tasks(run, scheduler=scheduler(fake))
