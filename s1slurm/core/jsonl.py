"""JSON Lines files: the append-only record logs of eval and curation, which survive a killed
writer, and the check of a user's data file before anything is submitted.

A task killed mid-write can leave a torn last line. Readers close it with a newline (never
rewriting the file), skip it as malformed, and appends go in one write, flushed and fsynced, so
that what a task reported done is on disk before it moves on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def close_torn_line(path: Path) -> None:
    """End the file with a newline if a killed writer left its last line unfinished."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())


def read_lines(path: Path) -> Iterator[Any]:
    """Each non-empty line parsed as JSON, or None for a line that is not JSON (torn, garbage);
    nothing for a file that does not exist yet."""
    if not Path(path).is_file():
        return
    close_torn_line(path)
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield None


def append_lines(path: Path, lines: list[str]) -> None:
    """Append already-serialised JSON lines in one write, flushed and fsynced."""
    if not lines:
        return
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def first_bad_line(path: Path) -> str | None:
    """``line N is not valid JSON`` (or ``... not a JSON object``) for the first bad line of a
    JSON Lines file the user gave, None when every line is an object; never quotes the line."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    return f"line {number} is not a JSON object"
            except ValueError:
                return f"line {number} is not valid JSON"
    return None
