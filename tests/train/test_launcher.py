"""The per-node launcher: torchrun or one rank per task, node rank from the step, stop and failure."""

from __future__ import annotations

import json
import sys
import time

import pytest

from s1slurm.config.cluster import Profile
from s1slurm.core.errors import StageError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.distributed import DistEnv
from s1slurm.train.job_plan import TrainPlan
from s1slurm.train.paths import TrainPaths
from s1slurm.train.spec import DataSpec, TrainSpec
from s1slurm.train.supervisor import TorchrunSupervisor


def launcher(tmp_path, *, tasks_per_node: int, dist: DistEnv) -> TorchrunSupervisor:
    spec = TrainSpec(data=DataSpec(source="x.jsonl"))
    plan = TrainPlan.build(
        spec,
        Profile(nodes=2, gpus_per_node=8, tasks_per_node=tasks_per_node),
        template={"zero_optimization": {"stage": 3}},
    )
    return TorchrunSupervisor(TrainPaths(RunDir.create(tmp_path, "train")), plan, dist, "123.0")


def test_one_torchrun_per_node_with_the_node_rank_of_this_task(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("RANK", "1")  # set by the task for itself: must not reach torchrun's ranks
    dist = DistEnv(
        global_rank=1, world_size=2, node_rank=1, num_nodes=2, master_addr="node1", master_port=20123
    )
    node = launcher(tmp_path, tasks_per_node=1, dist=dist)
    cmd = " ".join(node.command())
    assert "torch.distributed.run --nnodes=2 --node_rank=1 --nproc_per_node=8" in cmd
    assert "--master_addr=node1 --master_port=20123" in cmd and "--attempt 123.0" in cmd
    assert "--signals-to-handle=SIGINT,SIGHUP,SIGQUIT" in cmd  # SIGTERM (preemption) is left to the ranks
    assert "RANK" not in node.environment()


def test_one_task_per_rank_gets_the_torch_environment_of_its_task(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "ib0")  # a profile `env:` value, exported by the sbatch script
    dist = DistEnv(
        global_rank=13,
        local_rank=5,
        world_size=16,
        node_rank=1,
        num_nodes=2,
        master_addr="node1",
        master_port=20123,
    )
    node = launcher(tmp_path, tasks_per_node=8, dist=dist)
    node.addr, node.port = "10.0.0.1", 20555  # what agree_rendezvous read from the first node
    assert node.command()[:4] == [sys.executable, "-u", "-m", "s1slurm.train.worker"]
    env = node.environment()
    assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == (
        "13",
        "5",
        "16",
        "8",
    )
    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("10.0.0.1", "20555")
    assert env["NCCL_SOCKET_IFNAME"] == "ib0"


def test_the_rendezvous_port_lies_below_the_ephemeral_range_and_a_port_in_use_moves_it(tmp_path, monkeypatch):
    import socket

    from s1slurm.train import supervisor as L

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    candidates = L.port_candidates("4242", 1)
    assert all(L.PORT_FLOOR <= p < L.ephemeral_low() for p in candidates)
    assert candidates[0] != L.port_candidates("4242", 0)[0]  # a requeued start moves the port
    dist = DistEnv(world_size=2, num_nodes=2, job_id="4242")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", candidates[0]))
        busy.listen()
        choice = L.choose_rendezvous(dist, hostname="localhost")
    assert choice["skipped_ports"] == [candidates[0]] and choice["port"] == candidates[1]
    # the other nodes read the first node's choice; a loopback address of another host is refused
    node = launcher(
        tmp_path, tasks_per_node=1, dist=DistEnv(global_rank=1, node_rank=1, world_size=2, num_nodes=2)
    )
    node.rendezvous_file.parent.mkdir(parents=True)
    node.rendezvous_file.write_text(json.dumps({**choice, "host": "some-other-host"}))
    with pytest.raises(StageError, match="loopback address"):
        node.agree_rendezvous()


def test_the_rendered_deepspeed_config_carries_offload_and_counts_data_parallel_ranks(tmp_path):
    from s1slurm.train.deepspeed import load_template

    spec = TrainSpec(
        data=DataSpec(source="x.jsonl"), memory={"offload_optimizer": True, "sequence_parallel_size": 2}
    )
    plan = TrainPlan.build(spec, Profile(nodes=2, gpus_per_node=8), template=load_template(spec.deepspeed))
    assert (plan.layout.data_parallel, plan.accumulation) == (8, 2)
    config = plan.deepspeed_config()
    assert config["train_batch_size"] == 16 and config["gradient_accumulation_steps"] == 2
    assert config["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert "offload_param" not in config["zero_optimization"]
    from s1slurm.train.options import parallelism_config

    pc = parallelism_config(spec)
    assert (pc.sp_backend, pc.sp_size, pc.sp_handler.sp_attn_implementation) == ("deepspeed", 2, "sdpa")


def test_ranks_ignore_usr2_until_they_install_a_handler_and_stop_when_another_node_fails(tmp_path):
    node = launcher(tmp_path, tasks_per_node=1, dist=DistEnv(num_nodes=2, world_size=2))
    out = tmp_path / "child.out"
    node.command = lambda: [
        sys.executable,
        "-c",  # type: ignore[method-assign]
        "import pathlib, signal, sys, time; "
        "pathlib.Path(sys.argv[1]).write_text(str(signal.getsignal(signal.SIGUSR2) "
        "== signal.SIG_IGN)); time.sleep(60)",
        str(out),
    ]
    node.start()
    deadline = time.time() + 20
    while not (out.exists() and out.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    assert out.read_text() == "True"  # torchrun survives the USR2 SLURM sends to the step
    node.request_stop()
    assert node.paths.stop_request("123.0").is_file()
    node.failure_flag.parent.mkdir(parents=True)
    node.failure_flag.write_text("node 0: exit 1")
    started = time.time()
    rc = node.wait(poll_s=0.1)
    assert rc != 0 and time.time() - started < 15
