"""Compatibility name: the sacct parser lives in :mod:`s1slurm.monitor.scheduler` with squeue's."""

from s1slurm.monitor.scheduler import JobInfo, expand_array, parse_sacct

__all__ = ["JobInfo", "expand_array", "parse_sacct"]
