"""The curation folder (``out:`` of a curate spec): one paths object, read and written by every step.

Layout::

    <out>/<step>/dataset/               the step's rows (Hugging Face datasets, save_to_disk)
    <out>/<step>/<step>.jsonl           the same rows as JSON Lines
    <out>/<step>/rejects.jsonl          rows this step dropped, each with its reason
    <out>/<step>/shards/<shard>.jsonl   model steps: one record per question, appended and fsynced
    <out>/<step>/shards/<shard>.done    model steps: a shard's marker, written after its records
    <out>/<step>/next.json              what was submitted after this step (the chain)
    <out>/<step>.done                   the step's marker, written last

A step is finished when its marker exists: a rerun of the curation skips it. Every file is written
atomically (temporary name, then rename), the dataset folder too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.jsonl import append_lines, read_lines
from s1slurm.core.shard import Shard


@dataclass(frozen=True)
class CurationDir:
    """Paths of one curation; creating the object touches nothing."""

    path: Path

    def step_dir(self, step: str) -> Path:
        return self.path / step

    def dataset_dir(self, step: str) -> Path:
        return self.step_dir(step) / "dataset"

    def export_path(self, step: str) -> Path:
        return self.step_dir(step) / f"{step}.jsonl"

    def rejects_path(self, step: str) -> Path:
        return self.step_dir(step) / "rejects.jsonl"

    def report_path(self, step: str, name: str) -> Path:
        return self.step_dir(step) / name

    def shard_records(self, step: str, shard: Shard) -> Path:
        return self.step_dir(step) / "shards" / f"{shard.id}.jsonl"

    def shard_done(self, step: str, shard: Shard) -> Path:
        return self.step_dir(step) / "shards" / f"{shard.id}.done"

    def step_marker(self, step: str) -> Path:
        return self.path / f"{step}.done"

    def is_done(self, step: str) -> bool:
        return self.step_marker(step).is_file()

    def mark_done(self, step: str, info: dict[str, Any]) -> None:
        atomic_write_json(self.step_marker(step), {"step": step, **info})

    def first_pending(self, steps: Iterable[str]) -> str | None:
        """The first of ``steps`` without a marker (None: all are finished)."""
        return next((s for s in steps if not self.is_done(s)), None)

    @contextlib.contextmanager
    def lock(self, step: str) -> Iterator[None]:
        """An exclusive lock on finishing ``step`` (released by the kernel if the holder dies)."""
        path = self.step_dir(step) / ".finish.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines, atomically; returns the number of rows."""
    lines = [json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows]
    atomic_write_text(path, "".join(lines))
    return len(lines)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file this package wrote (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save_rows(cur: CurationDir, step: str, rows: list[dict[str, Any]]) -> None:
    """The step's dataset (``save_to_disk``, into a temporary folder renamed into place) and its
    JSON Lines export."""
    import datasets

    target = cur.dataset_dir(step)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".dataset.{uuid.uuid4().hex[:8]}.tmp")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
    if target.exists():  # left by a finisher that died before the step marker: replace it
        shutil.rmtree(target)
    os.replace(tmp, target)
    write_jsonl(cur.export_path(step), rows)


def load_rows(cur: CurationDir, step: str) -> list[dict[str, Any]]:
    """The rows a finished step saved."""
    import datasets

    return datasets.load_from_disk(str(cur.dataset_dir(step))).to_list()


class RecordLog:
    """A shard's append-only JSON Lines file of per-question records, keyed by ``key``.

    Reopening it (a requeued or resubmitted task) reads what is there: a line torn by a kill is
    closed with a newline and skipped, and a question already recorded is never done twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self.torn = 0

    def load(self) -> RecordLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for rec in read_lines(self.path):
            try:
                key = rec["key"]
            except (KeyError, TypeError):  # None (not JSON) or not a record
                self.torn += 1
                continue
            self.records.setdefault(key, rec)
        return self

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append records in one write, flushed and fsynced."""
        append_lines(self.path, [json.dumps(r, ensure_ascii=False) for r in records])
        for r in records:
            self.records.setdefault(r["key"], r)
