"""Watching runs: SLURM accounting, per-task state from the run folder, tables and dashboards."""
