"""Submit an evaluation of the trained model once training has succeeded (``eval_after:``).

The rank-0 task calls this after the model folder is complete. The eval spec named by
``eval_after`` is copied with ``model`` set to the new folder and, under SLURM, with
``--dependency=afterok:<this job>``, so that the evaluation starts only once the training job has
exited successfully (and its nodes are free). The eval spec is checked like any submission (its
model folder must exist, which is why this happens at the end of training, not at its start).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from s1slurm.config.loading import read_yaml
from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.train.paths import TrainPaths


def follow_up_spec(eval_spec: Path, model_dir: Path, job_id: str | None) -> dict[str, Any]:
    """The eval spec with the trained model and, under SLURM, an afterok dependency on ``job_id``."""
    data = read_yaml(eval_spec)
    data["model"] = str(model_dir)
    if job_id:
        cluster = dict(data.get("cluster") or {})
        extra = dict(cluster.get("extra_sbatch") or {})
        extra["dependency"] = f"afterok:{job_id}"
        cluster["extra_sbatch"] = extra
        data["cluster"] = cluster
    return data


def submit_eval_after(paths: TrainPaths, eval_spec: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Submit the follow-up evaluation; returns (and writes to ``eval_after.json``) what happened."""
    from s1slurm.config.discovery import profiles_for_run
    from s1slurm.launch import submit as sub
    from s1slurm.stages import get_stage
    from s1slurm.launch.environment import submission_environment

    job_id = os.environ.get("SLURM_JOB_ID")
    data = follow_up_spec(eval_spec, paths.model_dir, job_id)
    spec_file = paths.root / "eval_after.yaml"
    atomic_write_text(spec_file, yaml.safe_dump(data, sort_keys=False))
    record: dict[str, Any] = {"eval_spec": str(eval_spec), "submitted_spec": str(spec_file),
                              "dependency": f"afterok:{job_id}" if job_id else None}
    try:
        found = profiles_for_run(manifest)  # the profiles the training was submitted with
        resolved = sub.resolve(get_stage("eval"), spec_file, found.cluster, Path(found.source.label),
                               manifest.get("profile_name"))
        launcher = sub.make_launcher(resolved)
        with submission_environment():  # no SLURM_* of this job may leak into the child's sbatch
            run, submission = sub.submit(resolved, launcher, ["s1slurm", "eval_after", str(spec_file)])
        record.update(run=str(run.path), jobs=[a["job_id"] for a in submission.arrays],
                      failed_tasks=submission.failed_tasks)
    except Exception as e:  # the training succeeded whatever happens here: record, do not raise
        record["error"] = f"{type(e).__name__}: {e}"
    atomic_write_json(paths.root / "eval_after.json", record)
    return record
