"""Launchers: turn a planned run into local processes or SLURM jobs (through submitit)."""
