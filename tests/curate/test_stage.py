"""The curate stage's plan: the first unfinished step, its tasks and its resources."""

from __future__ import annotations

from pathlib import Path

import pytest

from s1slurm.config.cluster import load_cluster
from s1slurm.core.errors import ConfigError
from s1slurm.curate.spec import CurateSpec
from s1slurm.curate.store import CurationDir
from s1slurm.stages.curate import CurateStage, next_spec
from tests.conftest import REPO


def spec(tmp_path: Path, **over) -> CurateSpec:
    base = {
        "out": str(tmp_path / "cur"),
        "sources": [{"name": "p", "path": str(tmp_path / "p.jsonl")}],
        "traces": {"model": "some/teacher", "tensor_parallel_size": 4, "shards": 3},
    }
    return CurateSpec(**{**base, **over})


def test_plan_is_the_first_unfinished_step_and_a_rerun_skips_finished_ones(tmp_path):
    stage, s = CurateStage(), spec(tmp_path)
    assert [sh.id for sh in stage.plan(s)] == ["collect-00000-of-00001"]
    cur = CurationDir(tmp_path / "cur")
    cur.mark_done("collect", {})
    cur.mark_done("decontaminate", {})
    assert [sh.id for sh in stage.plan(s)] == [f"traces-0000{i}-of-00003" for i in range(3)]
    for step in ("traces", "attempts", "domains", "select"):
        cur.mark_done(step, {})
    with pytest.raises(ConfigError, match="every step of this curation is finished"):
        stage.check(s, load_cluster(REPO / "cluster.yaml").profile("local"), Path("c.yaml"))


def test_cpu_steps_ask_no_gpu_and_model_steps_their_tensor_parallel_share(tmp_path):
    stage, s = CurateStage(), spec(tmp_path)
    h100 = load_cluster(REPO / "cluster.yaml").profile("h100")
    cpu = stage.resources(s, h100)
    assert cpu.gpus_per_node == 0 and "exclusive" not in cpu.extra_sbatch
    cur = CurationDir(tmp_path / "cur")
    cur.mark_done("collect", {})
    cur.mark_done("decontaminate", {})
    gpu = stage.resources(s, h100)
    assert gpu.gpus_per_node == 4 and gpu.cpus_per_task == h100.cpus_per_task // 2
    assert "exclusive" not in gpu.extra_sbatch
    s = spec(tmp_path, traces={"model": "t", "cluster": {"time": "12:00:00", "gpus_per_node": 8}})
    assert stage.resources(s, h100).gpus_per_node == 8 and stage.resources(s, h100).time == "12:00:00"


def test_next_submission_depends_on_this_job_and_forgets_older_dependencies(tmp_path):
    s = spec(tmp_path, cluster={"extra_sbatch": {"dependency": "afterok:1", "mail-type": "END"}})
    data = next_spec(s, "42")
    assert data["cluster"]["extra_sbatch"] == {
        "mail-type": "END",
        "dependency": "afterok:42",
        "kill-on-invalid-dep": "yes",
    }
    assert Path(data["out"]).is_absolute()
    assert "dependency" not in next_spec(s, None)["cluster"]["extra_sbatch"]


def test_spec_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="pipeline order"):
        spec(tmp_path, steps=["select", "collect"])
    with pytest.raises(ValueError, match=r"traces\.model"):
        spec(tmp_path, traces={"shards": 2})
    with pytest.raises(ValueError, match="exactly one of 'path'"):
        spec(tmp_path, sources=[{"name": "p"}])
