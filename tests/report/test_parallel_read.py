"""Records files parsed by worker processes merge exactly as when read in this process: the same
columns, codes, duplicates (first copy wins, across files), malformed lines and warnings."""

from __future__ import annotations

import dataclasses

import numpy as np
from report_runs import make_plan, record, write_run

from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report.collect import Codes, Issues, open_runs, read_records

LO, HI = BudgetSetting(max_thinking_tokens=64), BudgetSetting(max_thinking_tokens=256)
ODD = BudgetSetting(max_thinking_tokens=64, method="ignore")  # same label as LO, another method
SHARDS = [Shard("aime24", i, 3) for i in range(3)]


def messy_run(root):
    def lines(q: str, extracted: str) -> list[str]:
        return [
            record("aime24", s, q, i, i % 2 == 0, 40 + i, extracted=extracted)
            for s in (LO, HI)
            for i in range(3)
        ]

    first = lines("q1", "7") + ["{broken", "", '{"benchmark": "aime24"}']
    second = lines("q2", "9") + lines("q1", "8")[:2]  # duplicates of the first file's records
    third = [record("aime24", ODD, "q3", 0, None, 5, extracted=None)] + lines("q3", "7")
    plan = make_plan({"aime24": ["q1", "q2", "q3"]}, [LO, HI], samples=3, shards=3)
    return write_run(root, "eval-messy", plan, dict(zip(SHARDS, (first, second, third))))


def test_two_workers_merge_like_one_process(tmp_path):
    runs = open_runs([messy_run(tmp_path)])
    alone, parallel = Issues(), Issues()
    one = read_records(runs, alone, workers=1)
    two = read_records(runs, parallel, workers=2)
    # two copies of q1 in the second file; q3 sample 0 of LO written twice in the third (ODD first)
    assert alone.duplicates_total == 3 and alone.malformed_total == 2 and alone.warnings
    assert alone.to_dict() == parallel.to_dict()
    for f in dataclasses.fields(one):
        a, b = getattr(one, f.name), getattr(two, f.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), f.name
        elif isinstance(a, Codes):
            assert a.values == b.values, f.name
        else:
            assert a == b, f.name
