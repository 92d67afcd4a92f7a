"""Stopping for a requeue on the rank-0 task: timeouts and preemptions told apart, the ranks' grace
derived from the warning, a requeue counted only once SLURM accepted it, max_requeues per job."""

from __future__ import annotations

import logging
import time

import pytest

from s1slurm.config.cluster import Profile
from s1slurm.core.rundir import RunDir
from s1slurm.launch.distributed import DistEnv
from s1slurm.stages.base import TaskContext
from s1slurm.stages.train import TrainStage
from s1slurm.train import requeue as R
from s1slurm.train.paths import SHARD, TrainPaths
from s1slurm.train.spec import DataSpec, TrainSpec
from s1slurm.train.summary import read_requeues, start_new_count


def test_squeue_time_left_is_parsed():
    assert R.parse_time_left("1:30\n") == 90
    assert R.parse_time_left("2:00:05") == 7205
    assert R.parse_time_left("1-00:00:10") == 86410
    assert R.parse_time_left("UNLIMITED") is None and R.parse_time_left("") is None


def test_signal_near_the_time_limit_is_a_timeout_otherwise_a_preemption():
    profile = Profile(time="01:00:00", signal_delay_s=120)
    assert R.classify_signal(profile, time.time(), left=115) == "timeout"
    assert R.classify_signal(profile, time.time(), left=1800) == "preemption"
    assert R.classify_signal(profile, time.time() - 3480, left=None) == "timeout"
    assert R.classify_signal(profile, time.time() - 60, left=None) == "preemption"


def test_the_ranks_grace_is_the_warning_minus_the_stop_margin_never_a_fixed_minute():
    profile = Profile(signal_delay_s=300)
    assert R.stop_grace_s("SIGUSR2", "timeout", profile, 20, None)[0] == 280
    # SIGTERM on preemption: the partition's GraceTime is what is left before SIGKILL
    grace, why = R.stop_grace_s("SIGTERM", "preemption", profile, 20, 90)
    assert grace == 70 and "GraceTime 90" in why
    # USR2 on preemption (send_user_signal): signal_delay_s again; a tiny warning keeps a floor
    assert R.stop_grace_s("SIGUSR2", "preemption", profile, 20, 90)[0] == 280
    assert R.stop_grace_s("SIGUSR2", "timeout", Profile(signal_delay_s=10), 20, None)[0] == R.MIN_GRACE_S


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> TaskContext:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    run = RunDir.create(tmp_path, "train")
    spec = TrainSpec(data=DataSpec(source="x.jsonl"), max_requeues=2)
    return TaskContext(
        run=run,
        spec=spec,
        profile=Profile(time="01:00:00"),
        shard=SHARD,
        task_index=0,
        dist=DistEnv(),
        logger=logging.getLogger("test"),
    )


def test_a_requeue_is_counted_only_once_slurm_accepted_it_and_max_requeues_counts_per_job(ctx, monkeypatch):
    answers = iter([(True, ""), (False, "Requested operation is presently disabled"), (True, ""), (True, "")])
    asked = []
    monkeypatch.setattr(R, "requeue_job", lambda job: (asked.append(job), next(answers))[1])
    stage = TrainStage()
    assert stage.stop_and_requeue(ctx, "SIGTERM") is True
    assert stage.stop_and_requeue(ctx, "SIGUSR2") is False  # refused by SLURM: not counted
    assert stage.stop_and_requeue(ctx, "SIGUSR2") is True
    assert stage.stop_and_requeue(ctx, "SIGUSR2") is False  # max_requeues 2 reached: SLURM not even asked
    assert asked == ["77", "77", "77"]
    data = read_requeues(TrainPaths(ctx.run))
    assert (data["preemptions"], data["total"]) == (2, 2)
    assert [e["signal"] for e in data["events"]] == ["SIGTERM", "SIGUSR2"]
    assert "presently disabled" in data["not_requeued"][0]["refused"]
    assert data["not_requeued"][1]["reason"] == "max_requeues"
    # 's1slurm resume' submits a new job: its count starts again, and that is recorded and said
    note = start_new_count(TrainPaths(ctx.run), "78", max_requeues=2)
    assert note["previous_job_id"] == "77" and note["previous_requeues"] == 2
    monkeypatch.setenv("SLURM_JOB_ID", "78")
    assert stage.stop_and_requeue(ctx, "SIGUSR2") is True
    assert start_new_count(TrainPaths(ctx.run), "78", max_requeues=2) is None  # said once


def test_signal_after_the_run_is_done_requeues_without_counting(ctx, monkeypatch):
    monkeypatch.setattr(R, "requeue_job", lambda job: (True, ""))
    ctx.run.mark_done(ctx.shard)
    assert TrainStage().stop_and_requeue(ctx, "SIGUSR2") is True
    assert read_requeues(TrainPaths(ctx.run))["total"] == 0
