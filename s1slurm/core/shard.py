"""A shard: one unit of work in a job array, the same definition for every stage."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_GROUP_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` within ``group`` (for example a benchmark name).

    Its ``id`` names every file the shard writes, so it is filesystem-safe and sortable.
    """

    group: str
    index: int
    count: int

    def __post_init__(self) -> None:
        if not _GROUP_RE.match(self.group):
            raise ValueError(f"shard group {self.group!r} must match {_GROUP_RE.pattern}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} outside 0..{self.count - 1}")

    @property
    def id(self) -> str:
        return f"{self.group}-{self.index:05d}-of-{self.count:05d}"

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's contiguous slice of ``items``; the slices of all shards cover ``items`` once."""
        n = len(items)
        start = (n * self.index) // self.count
        stop = (n * (self.index + 1)) // self.count
        return list(items[start:stop])

    def to_dict(self) -> dict:
        return {"group": self.group, "index": self.index, "count": self.count}

    @classmethod
    def from_dict(cls, d: dict) -> Shard:
        return cls(group=d["group"], index=int(d["index"]), count=int(d["count"]))


def make_shards(group: str, count: int) -> list[Shard]:
    """All ``count`` shards of ``group``."""
    return [Shard(group, i, count) for i in range(count)]
