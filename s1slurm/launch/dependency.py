"""Starting a job only after others succeeded: the one ``afterok`` rule of every chain (a
curation's next step, training's ``eval_after``, a pipeline's next link)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def after_ok(extra_sbatch: Mapping[str, Any], jobs: Sequence[str]) -> dict[str, Any]:
    """``extra_sbatch`` (a profile's or a spec's sbatch options) for a job that starts only once
    every job in ``jobs`` has exited successfully.

    A dependency already there is replaced, not added to: in a chain it is the one the previous
    link waited for, satisfied by now. ``--kill-on-invalid-dep=yes`` makes SLURM drop the job when
    one of ``jobs`` fails, instead of leaving it pending forever. No ``jobs`` (a local run, or a
    submission from outside any job): no dependency at all.
    """
    out = {k: v for k, v in extra_sbatch.items() if k not in ("dependency", "kill-on-invalid-dep")}
    if jobs:
        out["dependency"] = "afterok:" + ":".join(jobs)
        out["kill-on-invalid-dep"] = "yes"
    return out
