"""The run directory: one paths object used by the launcher, the running tasks and the readers.

Layout of ``runs/<stage>-<UTC timestamp>-<short id>/``::

    manifest.json          resolved config, job ids, array layout, version, command line
    spec.yaml              the job spec as the user wrote it (readable copy)
    sbatch/                the exact sbatch scripts that were submitted
    submitit/              submitit's folder (pickles, per-task SLURM logs)
    logs/                  per-task logs of local runs
    tasks/                 per-task state files (running / completed / failed), written by the tasks
    outputs/<shard id>/    per-shard outputs, written atomically
    done/<shard id>.done   per-shard completion markers, written last
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError
from s1slurm.core.shard import Shard


@dataclass(frozen=True)
class RunDir:
    """Paths of one run. Creating the object touches nothing; :meth:`create` makes the folder."""

    path: Path

    @classmethod
    def create(cls, root: Path, stage: str) -> RunDir:
        """Make a new, unique run folder under ``root``."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = Path(root) / f"{stage}-{stamp}-{secrets.token_hex(3)}"
        path.mkdir(parents=True, exist_ok=False)
        run = cls(path.resolve())
        for sub in (run.submitit_dir, run.logs_dir, run.tasks_dir, run.outputs_dir, run.done_dir):
            sub.mkdir()
        return run

    @classmethod
    def open(cls, path: Path | str) -> RunDir:
        """An existing run folder; a clear error when it is not one."""
        run = cls(Path(path).resolve())
        if not run.manifest_path.is_file():
            raise ConfigError(
                "not a run directory (no manifest.json)",
                file=str(path),
                expected="a folder made by 's1slurm submit'",
            )
        return run

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.yaml"

    @property
    def sbatch_dir(self) -> Path:
        return self.path / "sbatch"

    @property
    def submitit_dir(self) -> Path:
        return self.path / "submitit"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def tasks_dir(self) -> Path:
        return self.path / "tasks"

    @property
    def outputs_dir(self) -> Path:
        return self.path / "outputs"

    @property
    def done_dir(self) -> Path:
        return self.path / "done"

    def shard_path(self, shard: Shard) -> Path:
        """Folder of one shard's outputs, for reading (not created)."""
        return self.outputs_dir / shard.id

    def shard_dir(self, shard: Shard) -> Path:
        """Folder of one shard's outputs, for writing (created on demand)."""
        d = self.shard_path(shard)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def done_marker(self, shard: Shard) -> Path:
        return self.done_dir / f"{shard.id}.done"

    def is_done(self, shard: Shard) -> bool:
        return self.done_marker(shard).is_file()

    def mark_done(self, shard: Shard, info: dict[str, Any] | None = None) -> None:
        """Write the shard's completion marker; call it after every output is in place."""
        atomic_write_json(self.done_marker(shard), {"shard": shard.to_dict(), **(info or {})})

    def done_ids(self) -> set[str]:
        return {p.name[: -len(".done")] for p in self.done_dir.glob("*.done")}

    def task_state_path(self, task_index: int, rank: int = 0) -> Path:
        return self.tasks_dir / f"task-{task_index:05d}-rank-{rank:03d}.json"

    def local_log_path(self, task_index: int) -> Path:
        return self.logs_dir / f"task-{task_index:05d}.log"

    def read_manifest(self, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
        """The run's manifest; a ConfigError when it is unreadable, not a JSON object, or lacks one
        of the ``require``d keys (what the caller reads: a manifest without them was not written by
        s1slurm, or was cut short)."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read manifest: {e}", file=str(self.manifest_path)) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"the manifest is a JSON {type(data).__name__}",
                file=str(self.manifest_path),
                expected="the JSON object s1slurm writes at submission",
            )
        missing = [k for k in require if k not in data]
        if missing:
            raise ConfigError(
                f"the manifest has no {', '.join(repr(k) for k in missing)}",
                file=str(self.manifest_path),
                field=missing[0],
                expected="the manifest s1slurm writes at submission; was it edited?",
            )
        return data
