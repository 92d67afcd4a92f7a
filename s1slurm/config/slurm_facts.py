"""What a SLURM cluster says about itself, for ``s1slurm init --slurm``.

Read from ``scontrol show config`` (cluster name, MaxArraySize), ``scontrol show partition -o``
(default partition, time limits) and ``sinfo`` (CPUs, memory and GPUs of each partition's nodes).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from s1slurm.core.errors import SlurmError

_GPU = re.compile(r"^gpu(?::[^:(]+)?:(\d+)")  # gpu:8, gpu:h100:8, gpu:h100:8(S:0-1)


@dataclass
class Partition:
    """One partition: its limits and the largest of its nodes."""

    name: str
    default: bool = False
    max_time: str | None = None  # None: UNLIMITED
    default_time: str | None = None  # None: NONE
    gpus_per_node: int = 0
    cpus_per_node: int = 0
    mem_mb_per_node: int = 0
    mixed_nodes: bool = False  # nodes of different sizes: the figures above are the largest node's
    state: str = "UP"


@dataclass
class SlurmFacts:
    """The cluster-wide settings and partitions that a profile needs."""

    cluster_name: str
    max_array_size: int | None
    partitions: list[Partition] = field(default_factory=list)

    @property
    def default_partition(self) -> Partition | None:
        """The partition SLURM uses when none is asked for (else the first one)."""
        for p in self.partitions:
            if p.default:
                return p
        return self.partitions[0] if self.partitions else None


def _run(*command: str) -> str:
    exe = shutil.which(command[0])
    if exe is None:
        raise SlurmError(
            f"{command[0]} was not found on PATH: run 's1slurm init --slurm' on a SLURM login node"
        )
    try:
        proc = subprocess.run([exe, *command[1:]], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"'{' '.join(command)}' could not be run: {e}") from None
    if proc.returncode != 0:
        raise SlurmError(f"'{' '.join(command)}' failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as a mapping of ``Key = Value`` lines."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_partitions(text: str) -> list[Partition]:
    """``scontrol show partition -o``: one line of ``Key=Value`` words per partition."""
    parts = []
    for line in text.splitlines():
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        if "PartitionName" not in fields:
            continue
        limit = fields.get("MaxTime", "UNLIMITED")
        default = fields.get("DefaultTime", "NONE")
        parts.append(
            Partition(
                name=fields["PartitionName"],
                default=fields.get("Default") == "YES",
                max_time=None if limit.upper() in ("UNLIMITED", "INFINITE") else limit,
                default_time=None if default.upper() in ("NONE", "UNLIMITED") else default,
                state=fields.get("State", "UP"),
            )
        )
    return parts


def gpus_in_gres(gres: str) -> int:
    """GPUs per node in a Gres string: ``gpu:8``, ``gpu:h100:4(S:0),gpu:a100:2`` (summed), ``(null)``: 0."""
    total = 0
    for item in gres.split(","):
        m = _GPU.match(item.strip())
        if m:
            total += int(m.group(1))
    return total


def parse_sinfo_nodes(text: str, partitions: list[Partition]) -> None:
    """Fill node sizes from ``sinfo -h -o '%R|%c|%m|%G'`` lines (one per group of alike nodes)."""
    by_name = {p.name: p for p in partitions}
    seen: dict[str, set[tuple[int, int, int]]] = {}
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) != 4 or cols[0] not in by_name:
            continue
        try:
            size = (int(cols[1].rstrip("+")), int(cols[2].rstrip("+")), gpus_in_gres(cols[3]))
        except ValueError:
            continue
        seen.setdefault(cols[0], set()).add(size)
    for name, sizes in seen.items():
        p = by_name[name]
        p.cpus_per_node, p.mem_mb_per_node, p.gpus_per_node = (max(s[i] for s in sizes) for i in range(3))
        p.mixed_nodes = len(sizes) > 1


def read_slurm_facts() -> SlurmFacts:
    """Ask the SLURM controller (raises :class:`SlurmError` with SLURM's words when it cannot)."""
    config = parse_config(_run("scontrol", "show", "config"))
    partitions = parse_partitions(_run("scontrol", "show", "partition", "-o"))
    parse_sinfo_nodes(_run("sinfo", "-h", "-o", "%R|%c|%m|%G"), partitions)
    try:
        max_array = int(config.get("MaxArraySize", ""))
    except ValueError:
        max_array = None
    return SlurmFacts(
        cluster_name=config.get("ClusterName", "slurm"), max_array_size=max_array, partitions=partitions
    )
