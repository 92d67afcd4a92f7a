"""What a pipeline needs from a curation: whether it is finished, the dataset it selected, and the
jobs of its chain still to come.

A curate submission runs one step and submits the next one itself (see :mod:`s1slurm.stages.curate`),
so the run a pipeline's curate step made is only the first link of the curation's own chain; the
curation folder (``out:``) says how far the whole curation is.
"""

from __future__ import annotations

import json
from pathlib import Path

from s1slurm.core.errors import StageError
from s1slurm.core.rundir import RunDir
from s1slurm.curate.store import CurationDir


def curation_of(child: RunDir) -> tuple[CurationDir, list[str]]:
    """The curation folder and the steps of the curation a curate run belongs to."""
    info = child.read_manifest().get("curate") or {}
    if not info.get("out") or not info.get("steps"):
        raise StageError(f"{child.manifest_path} records no curation (no 'curate' entry)")
    return CurationDir(Path(info["out"])), list(info["steps"])


def curation_complete(child: RunDir) -> bool:
    cur, steps = curation_of(child)
    return cur.first_pending(steps) is None


def pending_step(child: RunDir) -> str | None:
    cur, steps = curation_of(child)
    return cur.first_pending(steps)


def selected_dataset(child: RunDir) -> Path:
    """The JSON Lines export of the curation's last step (s1K columns), the training data."""
    cur, steps = curation_of(child)
    path = cur.export_path(steps[-1])
    if not path.is_file():
        raise StageError(f"the curation's last step '{steps[-1]}' wrote no dataset ({path} is missing)")
    return path


def chain_jobs(child: RunDir) -> list[str]:
    """Jobs of the curation's runs (the first and those its chain submitted) not finished yet."""
    from s1slurm.pipeline.chain import child_complete, waiting_jobs

    cur, steps = curation_of(child)
    runs = [child]
    for step in steps:
        try:
            record = json.loads((cur.step_dir(step) / "next.json").read_text())
        except (OSError, ValueError):
            continue
        if record.get("run"):
            runs.append(RunDir(Path(record["run"])))
    jobs: list[str] = []
    for run in runs:
        if run.manifest_path.is_file() and not child_complete(run):
            jobs += waiting_jobs(run)
    return jobs
