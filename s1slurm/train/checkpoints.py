"""Resumable checkpoints that are either complete or invisible.

Every rank writes into ``checkpoints/.staging/checkpoint-<step>/``; once all ranks are done, the
files are sealed: each is fsynced and checksummed (SHA-256; the ranks share the work, see
:func:`seal_files`), rank 0 writes a marker listing every file with its size and checksum, fsyncs it
and the folder, renames the folder to ``checkpoints/checkpoint-<step>/`` (one atomic rename) and
deletes all but the last ``keep_last`` complete checkpoints. A checkpoint counts as complete only
when its marker is there and every file it lists has the recorded size (cheap: :func:`verify`) and,
before it is loaded, the recorded checksum (:func:`verify` with ``checksums=True``), so a damaged
newest checkpoint is skipped for the one before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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


# Threads that hash files at once (hashlib releases the GIL; parallel file systems like parallel reads).
HASH_THREADS = 8
_CHUNK = 8 << 20


def fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries) to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _seal_one(path: Path) -> dict[str, Any]:
    fsync_path(path)
    return {"size": path.stat().st_size, "sha256": sha256(path)}


def seal_files(folder: Path, rank: int = 0, world: int = 1) -> dict[str, dict[str, Any]]:
    """fsync and checksum this rank's share of the files under ``folder`` (every ``world``-th file,
    in sorted order, from ``rank``): ranks seal a 32B checkpoint's ~400 GB together."""
    names = sorted(file_sizes(folder))[rank::world]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return dict(zip(names, pool.map(lambda rel: _seal_one(folder / rel), names)))


def _entry(value: Any) -> tuple[int, str | None]:
    """(size, checksum) of a marker entry (markers of older versions recorded sizes only)."""
    return (int(value["size"]), value.get("sha256")) if isinstance(value, dict) else (int(value), None)


def verify(folder: Path, *, checksums: bool = False) -> str | None:
    """Why ``folder`` is not a complete checkpoint, or None when it is.

    Sizes are always compared; ``checksums`` also recomputes every file's SHA-256 (before loading).
    """
    try:
        marker = json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return "no completion marker"
    except (OSError, ValueError) as e:
        return f"unreadable marker: {e}"
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        return "marker lists no files"
    for rel, value in files.items():
        size, _ = _entry(value)
        try:
            actual = (folder / rel).stat().st_size
        except OSError:
            return f"missing file {rel}"
        if actual != size:
            return f"{rel} has {actual} bytes, expected {size}"
    if checksums:
        expected = {rel: _entry(v)[1] for rel, v in files.items() if _entry(v)[1]}
        with ThreadPoolExecutor(HASH_THREADS) as pool:
            actual_sums = dict(zip(expected, pool.map(lambda rel: sha256(folder / rel), expected)))
        for rel, digest in expected.items():
            if actual_sums[rel] != digest:
                return f"{rel} does not match its checksum"
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

    def latest(self, *, checksums: bool = False) -> Path | None:
        """The newest complete checkpoint; newer broken ones are logged and skipped (``checksums``:
        every file's checksum is verified too, as before loading)."""
        for _step, path in reversed(self.all_checkpoints()):
            reason = verify(path, checksums=checksums)
            if reason is None:
                return path
            log.warning("skipping broken checkpoint %s: %s", path, reason)
        return None

    def finalize(
        self, step: int, info: dict[str, Any] | None = None, sealed: dict[str, dict[str, Any]] | None = None
    ) -> Path:
        """Seal the staged checkpoint of ``step`` (call on one rank, after every rank wrote).

        ``sealed`` holds the size and checksum of every file, as the ranks' :func:`seal_files`
        returned them; without it this rank seals every file itself.
        """
        staging = self.staging_path(step)
        if not staging.is_dir():
            raise FileNotFoundError(f"no staged checkpoint at {staging}")
        files = sealed if sealed is not None else seal_files(staging)
        missing = set(file_sizes(staging)) - set(files)
        if missing:
            raise RuntimeError(f"files not sealed in {staging}: {', '.join(sorted(missing))}")
        atomic_write_json(
            staging / MARKER,
            {"step": step, "time": time.time(), "files": dict(sorted(files.items())), **(info or {})},
        )
        fsync_path(staging / MARKER)
        for dirpath, _, _ in os.walk(staging):
            fsync_path(Path(dirpath))  # the entries of every folder, before the rename publishes them
        final = self.final_path(step)
        if final.exists():  # a broken or older copy of the same step: move it out of the way first
            trash = self.root / f".trash-{final.name}-{uuid.uuid4().hex[:6]}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(staging, final)
        fsync_path(self.root)
        self.rotate()
        return final

    def rotate(self) -> list[Path]:
        """Delete all but the newest ``keep_last`` complete checkpoints, and broken ones older than
        the newest complete one. Returns what was deleted."""
        complete = self.complete()
        keep = {p for _, p in complete[-self.keep_last :]}
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
