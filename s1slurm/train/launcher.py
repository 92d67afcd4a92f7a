"""The per-node supervisor: starts this node's ranks, waits for them, stops them on request.

With one SLURM task per node it runs ``torchrun`` (static rendezvous at the first node, node rank
from the step's own ``SLURM_NODEID``); with one SLURM task per rank it starts that one rank with
the torch environment of its task. The ranks run in a new session so that the whole tree can be
stopped; ``torchrun`` itself ignores USR2 (SLURM signals every process of the step) and only the
ranks act on it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from s1slurm.core.atomic import atomic_write_text
from s1slurm.launch.distributed import DistEnv
from s1slurm.launch.environment import TORCH_DISTRIBUTED_VARS
from s1slurm.train.paths import TrainPaths
from s1slurm.train.plan import TrainPlan

_ACTIVE: "NodeLauncher | None" = None


def active() -> "NodeLauncher | None":
    """The launcher running in this process (used by the USR2 handler of the task)."""
    return _ACTIVE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rendezvous_port(dist: DistEnv) -> int:
    """The job's port, moved on each requeue (the previous start's sockets may linger)."""
    if "SLURM_JOB_ID" not in os.environ and dist.num_nodes == 1:
        return _free_port()
    restart = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    return dist.master_port + restart % 16


class NodeLauncher:
    """This node's share of one attempt."""

    def __init__(self, paths: TrainPaths, plan: TrainPlan, dist: DistEnv, attempt: str,
                 logger: logging.Logger | None = None) -> None:
        self.paths, self.plan, self.dist, self.attempt = paths, plan, dist, attempt
        self.log = logger or logging.getLogger("s1slurm.train")
        self.proc: subprocess.Popen | None = None
        self.port = rendezvous_port(dist)

    def command(self) -> list[str]:
        worker = ["-m", "s1slurm.train.worker", "--run-dir", str(self.paths.run.path), "--attempt", self.attempt]
        layout = self.plan.layout
        if layout.one_task_per_rank:
            return [sys.executable, "-u", *worker]
        return [sys.executable, "-m", "torch.distributed.run",
                f"--nnodes={layout.nodes}", f"--node_rank={self.dist.node_rank}",
                f"--nproc_per_node={layout.processes_per_node}",
                f"--master_addr={self.dist.master_addr}", f"--master_port={self.port}",
                "--max_restarts=0", *worker]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in TORCH_DISTRIBUTED_VARS}
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.plan.layout.one_task_per_rank:
            env.update(self.dist.torch_env())
            env["MASTER_PORT"] = str(self.port)
            env["LOCAL_WORLD_SIZE"] = str(self.plan.layout.processes_per_node)
        return env

    def start(self) -> None:
        global _ACTIVE
        for d in (self.paths.root, self.paths.attempts_dir, self.paths.rank_log(self.attempt, 0).parent):
            d.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self.log.info("attempt %s: starting %s", self.attempt, " ".join(cmd))

        def ignore_usr2() -> None:  # the ranks install their own handler; torchrun must not die
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)

        self.proc = subprocess.Popen(cmd, env=self.environment(), start_new_session=True,
                                     preexec_fn=ignore_usr2)
        _ACTIVE = self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, poll_s: float = 0.5) -> int:
        """Wait for this node's ranks; stop them when another node reported a failure."""
        global _ACTIVE
        assert self.proc is not None
        failure = self.failure_flag
        try:
            while self.proc.poll() is None:  # poll, not wait(): a signal handler may poll too
                if failure.exists():
                    self.log.error("another node failed (%s); stopping this node's ranks", failure.read_text())
                    self.terminate()
                    break
                time.sleep(poll_s)
        except BaseException:
            self.terminate()
            raise
        finally:
            _ACTIVE = None if _ACTIVE is self else _ACTIVE
        rc = self.proc.wait()
        if rc != 0 and not failure.exists():
            atomic_write_text(failure, f"node {self.dist.node_rank} ({socket.gethostname()}): exit {rc}")
        return rc

    @property
    def failure_flag(self) -> Path:
        return self.paths.root / "failed" / self.attempt

    def request_stop(self) -> None:
        """Ask every rank of this attempt to checkpoint and exit (a stop file all ranks check)."""
        atomic_write_text(self.paths.stop_request(self.attempt), f"{time.time()}\n")
        if self.running() and self.plan.layout.one_task_per_rank:
            os.kill(self.proc.pid, signal.SIGUSR2)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the ranks to exit; True when they did."""
        deadline = time.time() + timeout
        while self.running() and time.time() < deadline:
            time.sleep(0.5)
        return not self.running()

    def terminate(self, grace: float = 10.0) -> None:
        """Stop the ranks' whole process tree: SIGTERM, then SIGKILL after ``grace`` seconds."""
        if not self.running():
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            if self.wait_exit(grace):
                return

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every rank log of this attempt on this node."""
        out = []
        for path in self.paths.rank_logs(self.attempt):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(out)
