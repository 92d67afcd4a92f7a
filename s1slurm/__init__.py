"""s1slurm: run the s1 test-time scaling recipe (curation, SFT, budget-forcing evaluation) on SLURM."""

__version__ = "0.1.0"
