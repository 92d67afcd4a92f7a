"""Every job id SLURM accepted is recorded, chunk by chunk, and a split array keeps its parallelism
limit across chunks (unit tests: submitit's executor is replaced by a fake that records sbatch options)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from submitit.core.utils import FailedJobError

from s1slurm.config.cluster import Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import make_shards
from s1slurm.launch import slurm as slurm_mod
from s1slurm.launch.base import PlannedTask
from s1slurm.launch.records import launch_recorded
from s1slurm.launch.slurm import PartialSubmissionError, SlurmLauncher
from s1slurm.stages import get_stage

from .test_status_rules import stage_ref


class FakeExecutor:
    """Accepts ``accept`` submissions, then refuses like sbatch does."""

    submitted: ClassVar[list[dict]] = []
    accept = 99
    next_id = 100

    def __init__(self, folder, python=None, max_num_timeout=0) -> None:
        self.params: dict = {}

    def update_parameters(self, **params) -> None:
        self.params = params

    def _jobs(self, n: int, array: bool):
        if len(FakeExecutor.submitted) >= FakeExecutor.accept:
            raise FailedJobError(
                "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy"
            )
        FakeExecutor.next_id += 1
        FakeExecutor.submitted.append(self.params)
        base = str(FakeExecutor.next_id)
        ids = [f"{base}_{i}" for i in range(n)] if array else [base]
        return [
            SimpleNamespace(job_id=j, paths=SimpleNamespace(submission_file=Path("/nonexistent")))
            for j in ids
        ]

    def submit(self, fn):
        return self._jobs(1, array=False)[0]

    def submit_array(self, fns):
        return self._jobs(len(fns), array=True)


@pytest.fixture
def fake_submitit(monkeypatch):
    import submitit

    FakeExecutor.submitted, FakeExecutor.accept, FakeExecutor.next_id = [], 99, 100
    monkeypatch.setattr(submitit, "SlurmExecutor", FakeExecutor)
    monkeypatch.setattr(slurm_mod, "_require_sbatch", lambda: "/usr/bin/sbatch")
    return FakeExecutor


def new_run(tmp_path: Path, n: int) -> tuple[RunDir, dict, list[PlannedTask]]:
    run = RunDir.create(tmp_path, "probe")
    tasks = [PlannedTask(i, s) for i, s in enumerate(make_shards("probe", n))]
    manifest = {
        "run": run.name,
        "stage": "probe",
        "stage_ref": stage_ref("probe"),
        "executor": "slurm",
        "command_line": ["s1slurm"],
        "submissions": [],
        "tasks": [
            {"index": t.index, "shard": t.shard.to_dict(), "shard_id": t.shard.id, "job_id": None}
            for t in tasks
        ],
    }
    atomic_write_json(run.manifest_path, manifest)
    return run, manifest, tasks


def launcher(**profile) -> SlurmLauncher:
    return SlurmLauncher(
        Profile(executor="slurm", **profile), JobSpec(stage="probe"), get_stage("probe").ref()
    )


def test_later_chunks_wait_for_the_previous_one_so_the_parallelism_limit_holds(tmp_path, fake_submitit):
    run, manifest, tasks = new_run(tmp_path, 12)
    launch_recorded(run, manifest, launcher(max_array_size=5, array_parallelism=2), tasks)
    deps = [p.get("additional_parameters", {}).get("dependency") for p in fake_submitit.submitted]
    assert deps == [None, "afterany:101", "afterany:102"]
    assert [p["array_parallelism"] for p in fake_submitit.submitted] == [2, 2, 2]


def test_without_a_limit_chunks_do_not_wait_and_a_profile_dependency_is_kept(tmp_path, fake_submitit):
    run, manifest, tasks = new_run(tmp_path, 4)
    launch_recorded(run, manifest, launcher(max_array_size=2), tasks)
    assert all("additional_parameters" not in p for p in fake_submitit.submitted)
    fake_submitit.submitted.clear()
    run, manifest, tasks = new_run(tmp_path, 4)
    launch_recorded(
        run,
        manifest,
        launcher(max_array_size=2, array_parallelism=1, extra_sbatch={"dependency": "afterok:7"}),
        tasks,
    )
    assert [p["additional_parameters"]["dependency"] for p in fake_submitit.submitted] == [
        "afterok:7",
        f"afterok:7,afterany:{fake_submitit.next_id - 1}",
    ]


def test_a_refused_second_chunk_keeps_the_first_chunks_job_ids(tmp_path, fake_submitit):
    run, manifest, tasks = new_run(tmp_path, 6)
    fake_submitit.accept = 1
    with pytest.raises(PartialSubmissionError, match="refused array 2 of 2 after accepting 1") as err:
        launch_recorded(run, manifest, launcher(max_array_size=3), tasks)
    assert "Job violates accounting/QOS policy" in str(err.value)
    saved = run.read_manifest()
    assert [t["job_id"] for t in saved["tasks"]] == ["101_0", "101_1", "101_2", None, None, None]
    [entry] = saved["submissions"]
    assert [a["job_id"] for a in entry["arrays"]] == ["101"] and "refused" in entry["error"]


def test_a_refused_first_chunk_is_a_plain_slurm_error(tmp_path, fake_submitit):
    run, manifest, tasks = new_run(tmp_path, 2)
    fake_submitit.accept = 0
    with pytest.raises(SlurmError) as err:
        launch_recorded(run, manifest, launcher(), tasks)
    assert not isinstance(err.value, PartialSubmissionError)
    assert [t["job_id"] for t in run.read_manifest()["tasks"]] == [None, None]


def test_the_split_size_is_the_smaller_of_the_clusters_max_array_size_and_the_profiles(monkeypatch):
    sched = slurm_mod  # the launcher asks the cluster through the scheduler query it imported

    monkeypatch.setattr(sched, "max_array_size", lambda: 5)
    assert launcher().chunk_size() == 5
    assert launcher(max_array_size=3).chunk_size() == 3
    assert launcher(max_array_size=1000).chunk_size() == 5  # a profile written for a larger cluster
    monkeypatch.setattr(sched, "max_array_size", lambda: 0)  # MaxArraySize=0: no arrays at all
    assert launcher().chunk_size() == 1
    monkeypatch.setattr(sched, "max_array_size", lambda: None)  # cannot ask: SLURM's own default
    assert launcher().chunk_size() == 1001
    assert launcher(max_array_size=3).chunk_size() == 3
