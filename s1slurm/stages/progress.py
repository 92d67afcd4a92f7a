"""A run's progress as plain data (what each stage reports, what the dashboards render), and a cache
of the files it is read from (re-read only when their size changed: a refresh over 10,000 shards
costs a stat each)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ShardProgress:
    """Units done out of units planned for one shard (``total`` None: not known yet)."""

    done: int
    total: int | None


@dataclass
class RunProgress:
    """A run's progress: the unit, per-shard figures, the totals and the pace.

    ``rate`` (units per second) and ``eta_s`` are set by the stage when its own records time the
    work (training's step log); otherwise the dashboard measures them across its refreshes.
    ``rates`` holds other paces the stage measured (``{"tokens/s": 1830.0}``); ``note`` a short
    phrase of the stage's own (``loss 0.412``, the rows in and out of each curation step).
    """

    unit: str
    shards: dict[int, ShardProgress]  # task index -> progress
    done: int = 0
    total: int | None = 0
    rate: float | None = None
    eta_s: float | None = None
    rates: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        self.done = sum(s.done for s in self.shards.values())
        totals = [s.total for s in self.shards.values()]
        self.total = None if any(x is None for x in totals) else sum(x for x in totals if x is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "done": self.done,
            "total": self.total,
            "rate_per_s": self.rate,
            "eta_s": self.eta_s,
            **({"rates": self.rates} if self.rates else {}),
            **({"note": self.note} if self.note else {}),
        }

    def line(self) -> str:
        """``12/60 steps, loss 0.412``: the figures (unless counted in shards) and the note."""
        figures = (
            ""
            if self.unit == "shards"
            else f"{self.done}/{self.total if self.total is not None else '?'} {self.unit}"
        )
        return ", ".join(x for x in (figures, self.note) if x)


@dataclass
class FileCache:
    """Values read from files, kept while a file's size does not change."""

    _values: dict[tuple[Path, Callable], tuple[int, Any]] = field(default_factory=dict)
    memo: dict[Path, Any] = field(default_factory=dict)  # per-run values computed once (plans)

    def read(self, path: Path, reader: Callable[[Path], T]) -> T | None:
        """``reader(path)``, or the value read before if the file has the same size; None when the
        file is missing or cannot be read yet (half written)."""
        try:
            size = path.stat().st_size
        except OSError:
            return None
        hit = self._values.get((path, reader))
        if hit and hit[0] == size:
            return hit[1]
        try:
            value = reader(path)
        except (OSError, ValueError):
            return None
        self._values[(path, reader)] = (size, value)
        return value


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def last_json_lines(path: Path, window: int = 8192) -> list[dict]:
    """The complete JSON object lines in the last ``window`` bytes of a file, in order."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - window))
        lines = f.read().splitlines()
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill, or the cut start of the window
        if isinstance(value, dict):
            out.append(value)
    return out


def shards_done(tasks: list[Any]) -> RunProgress:
    """Progress counted in shards (what a stage without finer records reports)."""
    return RunProgress("shards", {t.index: ShardProgress(int(t.done), 1) for t in tasks})
