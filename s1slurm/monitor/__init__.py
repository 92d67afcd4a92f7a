"""Watching runs: progress across refreshes, tables and dashboards of any stage's runs (the state
of their tasks is read by :mod:`s1slurm.launch.task_status`)."""
