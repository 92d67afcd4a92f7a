"""The ``s1slurm`` command line (typer + rich)."""
