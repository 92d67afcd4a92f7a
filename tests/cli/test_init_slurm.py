"""``s1slurm init --slurm``: a profile filled from what SLURM reports, then used for a real submission."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from s1slurm.config.cluster import ClusterFile
from s1slurm.config.scaffold import render
from s1slurm.config.slurm_facts import (
    Partition,
    SlurmFacts,
    gpus_in_gres,
    parse_config,
    parse_partitions,
    parse_sinfo_nodes,
)

from .test_front_door import bare_env, s1slurm

PARTITIONS = (
    "PartitionName=cpu AllowGroups=ALL Default=YES DefaultTime=NONE MaxTime=UNLIMITED Nodes=c[1-4] State=UP\n"
    "PartitionName=gpu AllowGroups=ALL Default=NO DefaultTime=02:00:00 MaxTime=2-00:00:00 Nodes=g[1-8] State=UP\n"
)
SINFO = "cpu|64|256000|(null)\ngpu|96|2000000|gpu:h100:8(S:0-1)\ngpu|96+|1000000|gpu:h100:4\n"


@pytest.mark.parametrize(
    "gres, gpus",
    [
        ("gpu:8", 8),
        ("gpu:h100:8(S:0-1)", 8),
        ("(null)", 0),
        ("gpu:a100:4,gpu:v100:2", 6),
        ("shard:8,gpu:2", 2),
    ],
)
def test_gpus_per_node_from_gres(gres, gpus):
    assert gpus_in_gres(gres) == gpus


def test_partitions_and_node_sizes_from_scontrol_and_sinfo():
    parts = parse_partitions(PARTITIONS)
    parse_sinfo_nodes(SINFO, parts)
    cpu, gpu = parts
    assert (cpu.name, cpu.default, cpu.max_time, cpu.default_time, cpu.gpus_per_node) == (
        "cpu",
        True,
        None,
        None,
        0,
    )
    assert (gpu.max_time, gpu.default_time, gpu.gpus_per_node, gpu.cpus_per_node) == (
        "2-00:00:00",
        "02:00:00",
        8,
        96,
    )
    assert gpu.mixed_nodes and not cpu.mixed_nodes
    assert parse_config("ClusterName             = my cluster\nMaxArraySize            = 1001\n") == {
        "ClusterName": "my cluster",
        "MaxArraySize": "1001",
    }


def test_the_profile_uses_a_gpu_partition_when_the_default_has_none():
    parts = parse_partitions(PARTITIONS)
    parse_sinfo_nodes(SINFO, parts)
    text = render(SlurmFacts(cluster_name="Big Iron", max_array_size=5001, partitions=parts))
    cluster = ClusterFile.model_validate(yaml.safe_load(text))
    assert cluster.default == "big-iron" and set(cluster.profiles) == {"local", "big-iron"}
    p = cluster.profiles["big-iron"]
    assert (p.executor, p.partition, p.gpus_per_node, p.max_array_size, p.time) == (
        "slurm",
        "gpu",
        8,
        5001,
        "02:00:00",
    )
    assert "Partition 'cpu' (default): no time limit" in text and "# cpus_per_task: 96" in text


def test_a_cluster_called_local_does_not_replace_the_local_profile():
    facts = SlurmFacts("local", None, [Partition("debug", default=True, max_time="30:00")])
    cluster = ClusterFile.model_validate(yaml.safe_load(render(facts)))
    assert cluster.default == "slurm" and cluster.profiles["local"].executor == "local"
    assert cluster.profiles["slurm"].time == "30:00"


def test_without_slurm_commands_init_slurm_says_where_to_run_it(tmp_path):
    env = dict(bare_env(tmp_path), PATH=str(Path(sys.executable).parent))  # python, but no SLURM commands
    proc = s1slurm("init", "--slurm", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "scontrol was not found on PATH" in proc.stderr and not (tmp_path / "cluster.yaml").exists()


@pytest.mark.cluster
def test_init_slurm_on_the_test_cluster_then_a_probe_with_the_profile_it_wrote(slurm_cluster, tmp_path):
    from s1slurm.core.rundir import RunDir
    from tests.spine.test_slurm_cluster import wait_finished

    env = bare_env(tmp_path)
    work = tmp_path / "project"
    work.mkdir()
    proc = s1slurm("init", "--slurm", env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    cluster = ClusterFile.model_validate(yaml.safe_load((work / "cluster.yaml").read_text()))
    name = cluster.default
    profile = cluster.profiles[name]
    # tests/cluster/start.sh: partition "debug" is the default, nodes have Gres=gpu:8, MaxArraySize is
    # SLURM's default (1001), and the partition has no time limit.
    assert (profile.executor, profile.partition, profile.gpus_per_node) == ("slurm", "debug", 8)
    max_array = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    assert f"MaxArraySize            = {profile.max_array_size}" in max_array
    (work / "probe.yaml").write_text("stage: probe\ntasks: 1\ncluster:\n  time: '00:05:00'\n")
    proc = s1slurm("submit", "probe", "--config", "probe.yaml", env=env, cwd=work)  # the written default
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [run_path] = list((work / "runs").iterdir())
    run = RunDir.open(run_path)
    assert run.read_manifest()["profile_name"] == name
    status = wait_finished(run)
    assert [t.state for t in status.tasks] == ["DONE"]
    [report] = [json.loads(p.read_text()) for p in run.outputs_dir.glob("*/rank-000.json")]
    assert report["slurm"]["SLURM_JOB_PARTITION"] == "debug"
