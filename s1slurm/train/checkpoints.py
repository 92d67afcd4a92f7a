"""Resumable checkpoints that are either complete or invisible.

Every rank writes into ``checkpoints/.staging/checkpoint-<step>/``; once all ranks are done, rank 0
writes a marker listing every file with its size, then renames the folder to
``checkpoints/checkpoint-<step>/`` (one atomic rename) and deletes all but the last ``keep_last``
complete checkpoints. A checkpoint counts as complete only when its marker is there and every file
it lists has the recorded size, so a damaged newest checkpoint is skipped for the one before.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json

MARKER = "s1slurm_checkpoint.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")
log = logging.getLogger("s1slurm.train.checkpoints")


def file_sizes(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file under ``folder`` (the marker itself excluded)."""
    sizes = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel != MARKER:
                sizes[rel] = path.stat().st_size
    return dict(sorted(sizes.items()))


def verify(folder: Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint, or None when it is."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return "no completion marker"
    except (OSError, ValueError) as e:
        return f"unreadable marker: {e}"
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        return "marker lists no files"
    for rel, size in files.items():
        path = folder / rel
        try:
            actual = path.stat().st_size
        except OSError:
            return f"missing file {rel}"
        if actual != size:
            return f"{rel} has {actual} bytes, expected {size}"
    return None


class CheckpointManager:
    """The ``checkpoints/`` folder of one run."""

    def __init__(self, root: Path, keep_last: int) -> None:
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        self.root = Path(root)
        self.keep_last = keep_last

    @property
    def staging_root(self) -> Path:
        return self.root / ".staging"

    def staging_path(self, step: int) -> Path:
        return self.staging_root / f"checkpoint-{step}"

    def final_path(self, step: int) -> Path:
        return self.root / f"checkpoint-{step}"

    def all_checkpoints(self) -> list[tuple[int, Path]]:
        """Every ``checkpoint-<step>`` folder (complete or not), oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def complete(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first."""
        return [(s, p) for s, p in self.all_checkpoints() if verify(p) is None]

    def latest(self) -> Path | None:
        """The newest complete checkpoint; newer broken ones are logged and skipped."""
        for step, path in reversed(self.all_checkpoints()):
            reason = verify(path)
            if reason is None:
                return path
            log.warning("skipping broken checkpoint %s: %s", path, reason)
        return None

    def finalize(self, step: int, info: dict[str, Any] | None = None) -> Path:
        """Seal the staged checkpoint of ``step`` (call on one rank, after every rank wrote)."""
        staging = self.staging_path(step)
        if not staging.is_dir():
            raise FileNotFoundError(f"no staged checkpoint at {staging}")
        files = file_sizes(staging)
        atomic_write_json(staging / MARKER, {"step": step, "time": time.time(), "files": files,
                                             **(info or {})})
        final = self.final_path(step)
        if final.exists():  # a broken or older copy of the same step: move it out of the way first
            trash = self.root / f".trash-{final.name}-{uuid.uuid4().hex[:6]}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(staging, final)
        self.rotate()
        return final

    def rotate(self) -> list[Path]:
        """Delete all but the newest ``keep_last`` complete checkpoints, and broken ones older than
        the newest complete one. Returns what was deleted."""
        complete = self.complete()
        keep = {p for _, p in complete[-self.keep_last:]}
        newest = complete[-1][0] if complete else None
        deleted = []
        for step, path in self.all_checkpoints():
            if path in keep or newest is None or step > newest:
                continue
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path)
        return deleted

    def clean_staging(self) -> None:
        """Remove half-written checkpoints left by a killed attempt."""
        shutil.rmtree(self.staging_root, ignore_errors=True)
