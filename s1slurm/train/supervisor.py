"""The per-node supervisor: starts this node's ranks, waits for them, stops them on request.

With one SLURM task per node it runs ``torchrun`` (static rendezvous at the first node, node rank
from the step's own ``SLURM_NODEID``); with one SLURM task per rank it starts that one rank with
the torch environment of its task. The ranks run in a new session so that the whole tree can be
stopped; ``torchrun`` itself ignores USR2 and SIGTERM (SLURM signals every process of the step,
and SIGTERM is its preemption notice) and only the ranks act on them.

The rendezvous: the first node resolves its own name (a non-loopback address for multi-node jobs),
takes the first free port of a job-specific sequence below the kernel's ephemeral range (a port in
use moves the rendezvous rather than failing the attempt) and publishes both in the run folder;
the other nodes read them and refuse a loopback address of another host before torchrun starts.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.errors import StageError
from s1slurm.launch.distributed import DistEnv
from s1slurm.launch.environment import TORCH_DISTRIBUTED_VARS
from s1slurm.train.job_plan import TrainPlan
from s1slurm.train.paths import TrainPaths

_ACTIVE: TorchrunSupervisor | None = None


def active() -> TorchrunSupervisor | None:
    """The supervisor running in this process (used by the USR2 handler of the task)."""
    return _ACTIVE


# Rendezvous ports are taken below Linux's ephemeral range (where the kernel picks the ports of
# outgoing connections, so a port there may be taken by any socket at any time).
PORT_FLOOR = 20000
_DEFAULT_EPHEMERAL_LOW = 32768
RENDEZVOUS_TIMEOUT_S = 300.0


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (``ip_local_port_range``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


def port_candidates(job_id: str, restart: int, tries: int = 64) -> list[int]:
    """Ports to try, in order: spread by job id, moved by the restart count, all outside the
    ephemeral range (a requeued start avoids the previous start's lingering sockets)."""
    low = ephemeral_low()
    span = max(low - PORT_FLOOR, 1)
    digits = int("".join(ch for ch in str(job_id) if ch.isdigit()) or "0")
    first = (digits * 16 + restart) % span
    return [PORT_FLOOR + (first + i) % span for i in range(min(tries, span))]


def port_free(port: int) -> bool:
    """Whether a listener on all interfaces (as torchrun's TCP store opens) could take ``port`` now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def own_address(hostname: str, multi_node: bool) -> str:
    """This node's address as this node resolves its own name; a non-loopback one for multi-node jobs."""
    try:
        infos = socket.getaddrinfo(hostname, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        raise StageError(f"the first node cannot resolve its own name {hostname!r}: {e}") from None
    addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
    routable = [a for a in addrs if not a.startswith("127.")]
    return routable[0] if (routable and multi_node) else addrs[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_rendezvous(dist: DistEnv, hostname: str | None = None) -> dict:
    """On the first node: its address and a port free on it (the next candidate when one is in use)."""
    host = hostname or socket.gethostname()
    if "SLURM_JOB_ID" not in os.environ and dist.num_nodes == 1:
        return {"addr": "127.0.0.1", "port": _free_port(), "host": host, "skipped_ports": []}
    addr = own_address(host, dist.num_nodes > 1)
    restart = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    skipped: list[int] = []
    for port in port_candidates(dist.job_id or os.environ.get("SLURM_JOB_ID", "0"), restart):
        if port_free(port):
            return {"addr": addr, "port": port, "host": host, "skipped_ports": skipped}
        skipped.append(port)
    raise StageError(f"no free rendezvous port on {host} ({addr}): tried {skipped[0]}-{skipped[-1]}")


def read_rendezvous(path: Path, timeout: float = RENDEZVOUS_TIMEOUT_S, poll_s: float = 0.5) -> dict:
    """On the other nodes: wait for the first node's choice (a file in the shared run folder)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(poll_s)
    raise StageError(f"the first node did not publish its rendezvous address in {timeout:.0f}s ({path})")


def check_reachable(choice: dict, hostname: str | None = None) -> None:
    """Refuse a loopback rendezvous address on another host (it would point at this node itself)."""
    host = hostname or socket.gethostname()
    if choice["addr"].startswith("127.") and choice.get("host") != host:
        raise StageError(
            f"the first node ({choice.get('host')}) resolves its own name to {choice['addr']}, a "
            f"loopback address this node ({host}) cannot reach it at: fix /etc/hosts or DNS there"
        )


class TorchrunSupervisor:
    """This node's share of one attempt."""

    def __init__(
        self,
        paths: TrainPaths,
        plan: TrainPlan,
        dist: DistEnv,
        attempt: str,
        logger: logging.Logger | None = None,
    ) -> None:
        self.paths, self.plan, self.dist, self.attempt = paths, plan, dist, attempt
        self.log = logger or logging.getLogger("s1slurm.train")
        self.proc: subprocess.Popen | None = None
        self.addr, self.port = dist.master_addr, dist.master_port
        self.rendezvous: dict = {}

    @property
    def rendezvous_file(self) -> Path:
        return self.paths.root / "rendezvous" / f"{self.attempt}.json"

    def agree_rendezvous(self) -> dict:
        """The first node picks and publishes address and port; the others read and check them."""
        first = self.dist.global_rank == 0 if self.plan.layout.one_task_per_rank else self.dist.node_rank == 0
        if first:
            choice = choose_rendezvous(self.dist)
            if self.dist.world_size > 1:
                atomic_write_json(self.rendezvous_file, choice)
        else:
            choice = read_rendezvous(self.rendezvous_file)
            check_reachable(choice)
        self.addr, self.port, self.rendezvous = choice["addr"], int(choice["port"]), choice
        if choice.get("skipped_ports"):
            self.log.warning(
                "rendezvous ports in use on %s: %s; using %d",
                choice["host"],
                ", ".join(map(str, choice["skipped_ports"])),
                self.port,
            )
        return choice

    def command(self) -> list[str]:
        worker = [
            "-m",
            "s1slurm.train.worker",
            "--run-dir",
            str(self.paths.run.path),
            "--attempt",
            self.attempt,
        ]
        layout = self.plan.layout
        if layout.one_task_per_rank:
            return [sys.executable, "-u", *worker]
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nnodes={layout.nodes}",
            f"--node_rank={self.dist.node_rank}",
            f"--nproc_per_node={layout.processes_per_node}",
            f"--master_addr={self.addr}",
            f"--master_port={self.port}",
            # SIGTERM (SLURM's preemption notice) is left to the ranks, which checkpoint first;
            # torchrun's default would stop them at once (SIGKILL 30 s later).
            "--signals-to-handle=SIGINT,SIGHUP,SIGQUIT",
            "--max_restarts=0",
            *worker,
        ]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in TORCH_DISTRIBUTED_VARS}
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if Path(self.plan.spec.model).is_dir() and Path(self.plan.spec.data.source).exists():
            env["HF_HUB_OFFLINE"] = "1"  # weights (and data) resolved at submission: no rank asks the hub
        if self.plan.layout.one_task_per_rank:
            env.update(self.dist.torch_env())
            env["MASTER_ADDR"], env["MASTER_PORT"] = self.addr, str(self.port)
            env["LOCAL_WORLD_SIZE"] = str(self.plan.layout.processes_per_node)
        return env

    def start(self) -> None:
        global _ACTIVE
        for d in (self.paths.root, self.paths.attempts_dir, self.paths.rank_log(self.attempt, 0).parent):
            d.mkdir(parents=True, exist_ok=True)
        self.agree_rendezvous()
        cmd = self.command()
        self.log.info("attempt %s: starting %s", self.attempt, " ".join(cmd))

        def ignore_usr2() -> None:  # the ranks install their own handlers; torchrun must not die
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        self.proc = subprocess.Popen(
            cmd, env=self.environment(), start_new_session=True, preexec_fn=ignore_usr2
        )
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
                    self.log.error(
                        "another node failed (%s); stopping this node's ranks", failure.read_text()
                    )
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
        if self.proc is not None and self.running() and self.plan.layout.one_task_per_rank:
            os.kill(self.proc.pid, signal.SIGUSR2)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the ranks to exit; True when they did."""
        deadline = time.time() + timeout
        while self.running() and time.time() < deadline:
            time.sleep(0.5)
        return not self.running()

    def terminate(self, grace: float = 10.0) -> None:
        """Stop the ranks' whole process tree: SIGINT, then SIGKILL after ``grace`` seconds.

        (SIGTERM would only ask the ranks to checkpoint: they treat it as SLURM's preemption notice.)
        """
        if self.proc is None or not self.running():
            return
        for sig in (signal.SIGINT, signal.SIGKILL):
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
