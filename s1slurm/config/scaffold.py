"""The commented ``cluster.yaml`` that ``s1slurm init`` writes, optionally with a profile filled from SLURM."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import yaml

from s1slurm.config.cluster import ClusterFile
from s1slurm.config.discovery import ENV_VAR
from s1slurm.config.slurm_facts import Partition, SlurmFacts
from s1slurm.core.atomic import atomic_write_text
from s1slurm.core.errors import ConfigError

_HEADER = f"""\
# Cluster profiles for s1slurm (written by `s1slurm init` on {{date}}; edit it freely).
# s1slurm uses the first of: --cluster PATH, ${ENV_VAR}, ./cluster.yaml, ~/.config/s1slurm/cluster.yaml
# (see `s1slurm profiles`). Choose a profile with --profile NAME; `default` is used otherwise.
# Every field of a profile can be overridden per stage in a job spec, under `cluster:`.
default: {{default}}

profiles:
  # This machine: tasks run one after the other, in the foreground.
  local:
    executor: local
"""

_EXAMPLE = """
  # A SLURM cluster: uncomment, fill in, then set `default: slurm` above or pass --profile slurm.
  # (`s1slurm init --slurm --force` on a login node fills such a profile from sinfo and scontrol.)
  # slurm:
  #   executor: slurm
  #   partition: gpu            # `sinfo -s` lists the partitions
  #   account: my-account       # `sacctmgr show assoc user=$USER format=account`
  #   time: "04:00:00"          # per job; at most the partition's MaxTime
  #   nodes: 1                  # stages that need two nodes (training) set `nodes: 2` in their spec
  #   gpus_per_node: 8
  #   cpus_per_task: 64
  #   mem_gb: 900
  #   array_parallelism: 16     # at most this many array tasks at once
  #   max_array_size: 1000      # MaxArraySize of `scontrol show config`
  #   setup:                    # shell lines run before each task
  #     - source ~/venvs/s1slurm/bin/activate
"""


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def profile_name(cluster_name: str) -> str:
    """A profile name for the cluster: its SLURM ClusterName, made safe (never ``local``)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", cluster_name.lower()).strip("-")
    return name if name and name != "local" else "slurm"


def pick_partition(facts: SlurmFacts) -> Partition | None:
    """The default partition when its nodes have GPUs, else the UP partition with the most GPUs per node."""
    default = facts.default_partition
    if default is None or default.gpus_per_node:
        return default
    with_gpus = [p for p in facts.partitions if p.gpus_per_node and p.state == "UP"]
    return max(with_gpus, key=lambda p: p.gpus_per_node) if with_gpus else default


def _describe(p: Partition) -> str:
    limit = f"MaxTime {p.max_time}" if p.max_time else "no time limit"
    size = f"{p.cpus_per_node} CPUs, {p.mem_mb_per_node} MB, {p.gpus_per_node} GPUs per node"
    return f"'{p.name}'{' (default)' if p.default else ''}: {limit}, {size}" + (
        " (largest node; sizes differ)" if p.mixed_nodes else ""
    )


def slurm_profile_text(facts: SlurmFacts, name: str) -> str:
    """The YAML lines (indented under ``profiles:``) of a profile filled from ``facts``."""
    part = pick_partition(facts)
    lines = ["", f"  # Filled from sinfo and `scontrol show config` of SLURM cluster {facts.cluster_name!r}."]
    lines += [f"  # Partition {_describe(p)}" for p in facts.partitions]
    lines += [f"  {name}:", "    executor: slurm"]
    if part is None:
        lines.append("    # partition: gpu          # SLURM reported no partition")
    else:
        lines.append(f"    partition: {_q(part.name)}")
        if part.default_time:
            lines.append(f"    time: {_q(part.default_time)}   # the partition's DefaultTime")
        elif part.max_time:
            lines.append(f"    time: {_q(part.max_time)}   # the partition's MaxTime")
        else:
            lines.append('    time: "01:00:00"   # per job (the partition has no time limit)')
        lines.append(
            "    nodes: 1                 # stages that need two nodes (training) set `nodes: 2` in their spec"
        )
        lines.append(f"    gpus_per_node: {part.gpus_per_node}         # Gres of the partition's nodes")
    if facts.max_array_size:
        lines.append(
            f"    max_array_size: {facts.max_array_size}    # MaxArraySize: larger runs are split into several arrays"
        )
    lines.append("    # account: my-account     # `sacctmgr show assoc user=$USER format=account`")
    if part is not None and part.cpus_per_node:
        lines.append(
            f"    # cpus_per_task: {part.cpus_per_node}       # the nodes have {part.cpus_per_node} CPUs"
        )
    if part is not None and part.mem_mb_per_node:
        lines.append(
            f"    # mem_gb: {part.mem_mb_per_node // 1024}              # the nodes have {part.mem_mb_per_node} MB"
        )
    lines += [
        "    # array_parallelism: 16   # at most this many array tasks at once",
        "    # setup:                  # shell lines run before each task",
        "    #   - source ~/venvs/s1slurm/bin/activate",
    ]
    return "\n".join(lines) + "\n"


def render(facts: SlurmFacts | None = None, *, date: str | None = None) -> str:
    """The whole file: the ``local`` profile, then the SLURM profile of ``facts`` (default) or a commented example."""
    date = date or time.strftime("%Y-%m-%d")
    if facts is None:
        return _HEADER.format(date=date, default="local") + _EXAMPLE
    name = profile_name(facts.cluster_name)
    return _HEADER.format(date=date, default=name) + slurm_profile_text(facts, name)


def write_cluster_file(path: Path, text: str, *, force: bool = False) -> ClusterFile:
    """Check that ``text`` is a valid cluster file, then write it (refusing to replace one unless ``force``)."""
    try:
        cluster = ClusterFile.model_validate(yaml.safe_load(text))
    except Exception as e:  # a bug in this module, not the user's doing: say so plainly
        raise RuntimeError(f"s1slurm init produced an invalid cluster file: {e}\n{text}") from e
    if path.is_dir():
        raise ConfigError(
            "is a folder",
            file=str(path),
            field="--path",
            expected="a file to write, e.g. " + str(path / "cluster.yaml"),
        )
    if path.exists() and not force:
        raise ConfigError("already exists; edit it, or pass --force to replace it", file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return cluster
