"""A task's place in a (multi-node) job, computed inside the task from the step's own variables.

Ranks are never expanded once in the batch step: each task of ``srun`` reads its own
``SLURM_PROCID``/``SLURM_NODEID`` through submitit's :class:`submitit.JobEnvironment`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DistEnv:
    """Rank, world and rendezvous address of one task."""

    global_rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    node_rank: int = 0
    num_nodes: int = 1
    hostname: str = ""
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    job_id: str = ""

    @property
    def is_main(self) -> bool:
        return self.global_rank == 0

    def torch_env(self) -> dict[str, str]:
        """The variables torch.distributed's ``env://`` rendezvous reads."""
        return {
            "RANK": str(self.global_rank),
            "LOCAL_RANK": str(self.local_rank),
            "WORLD_SIZE": str(self.world_size),
            "NODE_RANK": str(self.node_rank),
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
        }

    def to_dict(self) -> dict:
        return asdict(self)


def port_for_job(job_id: str) -> int:
    """A rendezvous port derived from the job id, so concurrent jobs on one node do not collide."""
    digits = "".join(ch for ch in str(job_id) if ch.isdigit()) or "0"
    return 20000 + int(digits) % 20000


def current_dist_env() -> DistEnv:
    """The DistEnv of the calling process: from SLURM inside a job, a single process otherwise."""
    if "SLURM_JOB_ID" not in os.environ or "SLURM_PROCID" not in os.environ:
        return DistEnv(hostname=socket.gethostname())
    import submitit

    env = submitit.JobEnvironment()
    hostnames = env.hostnames
    job_id = os.environ.get("SLURM_JOB_ID", env.job_id)
    return DistEnv(
        global_rank=env.global_rank,
        local_rank=env.local_rank,
        world_size=env.num_tasks,
        node_rank=env.node,
        num_nodes=env.num_nodes,
        hostname=os.environ.get("SLURMD_NODENAME", env.hostname),
        master_addr=hostnames[0] if hostnames else "127.0.0.1",
        master_port=port_for_job(job_id),
        job_id=str(env.job_id),
    )
