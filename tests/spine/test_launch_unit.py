"""Launcher pieces without a cluster: sbatch text, array splitting, environment scrubbing, ranks, sacct."""

from __future__ import annotations

from pathlib import Path

from s1slurm.config.cluster import Container, Profile
from s1slurm.config.jobspec import JobSpec
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import make_shards
from s1slurm.launch.base import PlannedTask
from s1slurm.launch.distributed import current_dist_env, port_for_job
from s1slurm.launch.environment import scrubbed
from s1slurm.launch.scheduler import parse_sacct
from s1slurm.launch.slurm import SlurmLauncher, chunks
from s1slurm.stages import get_stage

GOLDEN = Path(__file__).with_name("golden_probe.sbatch")


def tasks(n: int) -> list[PlannedTask]:
    return [PlannedTask(i, s) for i, s in enumerate(make_shards("probe", n))]


def h100_profile(**kw) -> Profile:
    base = dict(
        executor="slurm",
        partition="gpu",
        account="proj",
        qos="high",
        constraint="h100",
        time="02:00:00",
        nodes=2,
        gpus_per_node=8,
        cpus_per_task=16,
        mem_gb=512,
        array_parallelism=4,
        signal_delay_s=180,
        setup=["module load cuda/12.4"],
        env={"HF_HOME": "/scratch/$USER/hf x"},
        python="python3",
        container=Container(image="nvcr.io/nvidia/pytorch:25.01-py3", mounts=["/scratch:/scratch"]),
        extra_sbatch={"mail-type": "END", "exclusive": True},
    )
    base.update(kw)
    return Profile(**base)


def test_sbatch_script_matches_the_golden_file():
    run = RunDir(Path("/runs/probe-RUN"))
    launcher = SlurmLauncher(
        h100_profile(), JobSpec(stage="probe", name="s1 probe"), get_stage("probe").ref()
    )
    [script] = launcher.render(run, tasks(6))
    assert script == GOLDEN.read_text()


def test_every_profile_option_reaches_the_script():
    run = RunDir(Path("/runs/r"))
    [script] = SlurmLauncher(h100_profile(), JobSpec(stage="probe"), get_stage("probe").ref()).render(
        run, tasks(3)
    )
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=h100",
        "#SBATCH --time=120",
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=16",
        "#SBATCH --mem=512GB",
        "#SBATCH --array=0-2%3",
        "#SBATCH --signal=USR2@180",
        "#SBATCH --mail-type=END",
        "#SBATCH --exclusive",
        "module load cuda/12.4",
        "--container-image=nvcr.io/nvidia/pytorch:25.01-py3",
        "--container-mounts=/scratch:/scratch",
    ):
        assert line in script, line


def test_values_from_configs_are_quoted_for_the_shell():
    run = RunDir(Path("/runs/r"))
    spec = JobSpec(stage="probe", name="x; touch /tmp/pwned")
    [script] = SlurmLauncher(h100_profile(), spec, get_stage("probe").ref()).render(run, tasks(1))
    assert "#SBATCH --job-name='x; touch /tmp/pwned'" in script
    assert "export HF_HOME='/scratch/$USER/hf x'" in script  # never expanded, never split


def test_arrays_larger_than_max_array_size_are_split():
    launcher = SlurmLauncher(
        h100_profile(max_array_size=2, array_parallelism=None),
        JobSpec(stage="probe"),
        get_stage("probe").ref(),
    )
    scripts = launcher.render(RunDir(Path("/runs/r")), tasks(5))
    assert len(scripts) == 3
    assert "#SBATCH --array=0-1%2" in scripts[0] and "#SBATCH --array=0-1%2" in scripts[1]
    assert "--array" not in scripts[2]  # the last chunk holds one task: a plain job
    assert [len(c) for c in chunks(tasks(5), 2)] == [2, 2, 1]


def test_scrubbing_drops_job_step_and_torch_variables_but_keeps_slurm_conf():
    env = {
        "SLURM_JOB_ID": "5",
        "SLURM_NTASKS": "16",
        "SBATCH_PARTITION": "x",
        "SRUN_CPUS_PER_TASK": "4",
        "RANK": "3",
        "WORLD_SIZE": "16",
        "MASTER_ADDR": "node1",
        "LOCAL_RANK": "0",
        "SLURM_CONF": "/etc/slurm/slurm.conf",
        "PATH": "/usr/bin",
        "HOME": "/root",
    }
    assert scrubbed(env) == {"SLURM_CONF": "/etc/slurm/slurm.conf", "PATH": "/usr/bin", "HOME": "/root"}


def test_ranks_are_read_inside_each_task_from_its_own_step_variables(monkeypatch):
    step = {
        "SLURM_JOB_ID": "77",
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "1",
        "SLURM_NTASKS": "2",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURMD_NODENAME": "node2",
        "SUBMITIT_EXECUTOR": "slurm",
    }
    for k, v in step.items():
        monkeypatch.setenv(k, v)
    dist = current_dist_env()
    assert (dist.global_rank, dist.node_rank, dist.world_size, dist.num_nodes) == (1, 1, 2, 2)
    assert dist.master_addr == "node1" and dist.hostname == "node2"
    assert dist.torch_env()["MASTER_PORT"] == str(port_for_job("77"))


def test_outside_slurm_a_task_is_a_single_process(monkeypatch):
    for k in ("SLURM_JOB_ID", "SLURM_PROCID"):
        monkeypatch.delenv(k, raising=False)
    dist = current_dist_env()
    assert (dist.global_rank, dist.world_size) == (0, 1)


def test_sacct_pending_array_ranges_are_expanded_and_requeues_keep_the_last_state():
    text = (
        "12_0|COMPLETED|node1|00:00:02|0:0\n"
        "12_[1-3,5%2]|PENDING|None assigned|00:00:00|0:0\n"
        "13|REQUEUED|node[1-2]|00:00:30|0:0\n"
        "13|RUNNING|node[1-2]|00:00:05|0:0\n"
        "14|CANCELLED by 0|node1|00:00:01|0:15\n"
    )
    info = parse_sacct(text)
    assert info["12_0"].state == "COMPLETED"
    assert [info[f"12_{i}"].state for i in (1, 2, 3, 5)] == ["PENDING"] * 4 and "12_4" not in info
    assert info["13"].state == "RUNNING"
    assert info["14"].state == "CANCELLED"


def test_srun_gets_cpus_per_task_explicitly():
    # Slurm 22.05-23.02's srun does not inherit --cpus-per-task from the batch script.
    [script] = SlurmLauncher(h100_profile(), JobSpec(stage="probe"), get_stage("probe").ref()).render(
        RunDir(Path("/r")), tasks(1)
    )
    srun = next(line for line in script.splitlines() if line.startswith("srun "))
    assert "--cpus-per-task=16" in srun


def test_only_requeueable_stages_ask_for_requeue():
    run = RunDir(Path("/r"))
    [probe] = SlurmLauncher(h100_profile(), JobSpec(stage="probe"), get_stage("probe").ref()).render(
        run, tasks(1)
    )
    assert "#SBATCH --requeue" not in probe
    for name in ("train", "eval", "curate"):  # the stages whose tasks ask to be requeued on USR2
        [script] = SlurmLauncher(h100_profile(), JobSpec(stage=name), get_stage(name).ref()).render(
            run, tasks(1)
        )
        assert "#SBATCH --requeue" in script.splitlines(), name
