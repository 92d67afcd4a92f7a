"""USR2 handling on the rank-0 task: timeouts and preemptions told apart and counted, max requeues."""

from __future__ import annotations

import json
import logging
import time

import pytest

from s1slurm.config.cluster import Profile
from s1slurm.core.rundir import RunDir
from s1slurm.launch.distributed import DistEnv
from s1slurm.stages.base import TaskContext
from s1slurm.stages.train import TrainStage, classify_signal, parse_time_left
from s1slurm.train.paths import SHARD, TrainPaths
from s1slurm.train.spec import DataSpec, TrainSpec


def test_squeue_time_left_is_parsed():
    assert parse_time_left("1:30\n") == 90
    assert parse_time_left("2:00:05") == 7205
    assert parse_time_left("1-00:00:10") == 86410
    assert parse_time_left("UNLIMITED") is None and parse_time_left("") is None


def test_signal_near_the_time_limit_is_a_timeout_otherwise_a_preemption():
    profile = Profile(time="01:00:00", signal_delay_s=120)
    assert classify_signal(profile, time.time(), left=115) == "timeout"
    assert classify_signal(profile, time.time(), left=1800) == "preemption"
    # without squeue: elapsed time against the limit
    assert classify_signal(profile, time.time() - 3480, left=None) == "timeout"
    assert classify_signal(profile, time.time() - 60, left=None) == "preemption"


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> TaskContext:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    run = RunDir.create(tmp_path, "train")
    spec = TrainSpec(data=DataSpec(source="x.jsonl"), max_requeues=2)
    return TaskContext(run=run, spec=spec, profile=Profile(time="01:00:00"), shard=SHARD, task_index=0,
                       dist=DistEnv(), logger=logging.getLogger("test"))


def test_requeues_are_counted_by_kind_and_stop_at_max_requeues(ctx):
    stage = TrainStage()
    assert stage.on_requeue_signal(ctx) is True
    assert stage.on_requeue_signal(ctx) is True
    assert stage.on_requeue_signal(ctx) is False  # max_requeues: 2
    data = json.loads(TrainPaths(ctx.run).requeues.read_text())
    assert (data["preemptions"], data["timeouts"], data["total"]) == (3, 0, 3)
    assert [e["requeued"] for e in data["events"]] == [True, True, False]


def test_usr2_after_the_run_is_done_requeues_without_counting(ctx):
    ctx.run.mark_done(ctx.shard)
    assert TrainStage().on_requeue_signal(ctx) is True
    assert not TrainPaths(ctx.run).requeues.exists()
