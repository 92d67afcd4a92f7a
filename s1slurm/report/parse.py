"""Parse records files into compact rows, in this process or in two forked workers.

The JSON parsing and the record check are most of a large merge's time: above
:data:`PARALLEL_BYTES` they run in worker processes while :func:`s1slurm.report.collect.read_records`
merges the rows of the files already parsed, in the same order as when reading alone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from s1slurm.eval.records import record_problem

try:  # optional fast path; the standard library parser gives the same values
    import orjson as _orjson

    _loads: Callable[[bytes], Any] = _orjson.loads
    _DECODE_ERRORS: tuple[type[Exception], ...] = (_orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    _DECODE_ERRORS = (json.JSONDecodeError, UnicodeDecodeError)

_END_VALUES = {"natural": 0, "budget": 1}  # thinking_end as a 0/1 column
PARALLEL_BYTES = 64 * 2**20  # records files above this in all are parsed by two worker processes
EXTRAS = ("answer_tokens", "steps_used", "tries", "accepted")
"""Per-record figures averaged per setting (``Records.extras``): the answer's length, and from the
record's ``extra``, the steps a step-conditional run used, rejection sampling's tries and acceptance."""


def extras_of(d: dict[str, Any]) -> tuple[float | None, ...] | None:
    """One record's :data:`EXTRAS` (None where absent), or None when it has none of them."""
    raw = d.get("extra")
    extra = raw if isinstance(raw, dict) else {}
    values = (d.get("answer_tokens"), extra.get("steps_used"), extra.get("tries"), extra.get("accepted"))
    out = tuple(
        float(v) if isinstance(v, (int, float)) and (name == "accepted" or not isinstance(v, bool)) else None
        for name, v in zip(EXTRAS, values)
    )
    return None if all(v is None for v in out) else out


def parse_records_file(path: Path | str, s1_count: bool = False) -> list[tuple[Any, ...]]:
    """One records file as compact rows, in line order: (line, problem) for a line that is not a
    usable record (empty lines are skipped), else (line, benchmark, setting, method, question_id,
    sample_index, correct as 1/0/-1, thinking_tokens, forced_continuations, cut as 1/0,
    extracted_answer, gold_answer, budget, model or None, engine or None, :func:`extras_of`). With
    ``s1_count`` the thinking tokens are s1's count where the record has it (``extra.s1_thinking_tokens``).
    Equal strings are one object, so that the rows pickle small when a worker process sends them."""
    same: dict[Any, Any] = {}
    keep = same.setdefault
    out: list[tuple[Any, ...]] = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                d = _loads(line)
            except _DECODE_ERRORS as e:
                if line.strip():
                    out.append((lineno, f"invalid JSON: {str(e).splitlines()[0][:120]}"))
                continue
            problem = record_problem(d)
            if problem:
                out.append((lineno, problem))
                continue
            c, m, eng, label = d["correct"], d.get("model"), d.get("engine"), d["setting"]
            ex = d["extracted_answer"]
            thought = d["thinking_tokens"]
            if s1_count:
                extra = d.get("extra")
                n = extra.get("s1_thinking_tokens") if isinstance(extra, dict) else None
                thought = n if type(n) is int and n >= 0 else thought
            out.append(
                (
                    lineno,
                    keep(d["benchmark"], d["benchmark"]),
                    keep(label, label),
                    keep(d["method"], d["method"]),
                    keep(d["question_id"], d["question_id"]),
                    d["sample_index"],
                    -1 if c is None else int(c),
                    thought,
                    d["forced_continuations"],
                    _END_VALUES[d["thinking_end"]],
                    None if ex is None else keep(ex, ex),
                    keep(d["gold_answer"], d["gold_answer"]),
                    keep(("budget", label), d["budget"]),
                    keep(m, m) if m.__class__ is str else None,
                    keep(eng, eng) if eng.__class__ is str else None,
                    extras_of(d),
                )
            )
    return out


@contextlib.contextmanager
def parsed_files(
    files: Sequence[Path], workers: int | None, s1_count: bool = False
) -> Iterator[Iterable[list[tuple[Any, ...]]]]:
    """The parsed rows of each file, in order: in this process, or from two forked workers (the
    merge consumes one file while the workers parse the next ones)."""
    if workers is None:
        size = sum(p.stat().st_size for p in files)
        # fork only without other threads (a forked child inherits their locks)
        workers = (
            2
            if (size > PARALLEL_BYTES and len(files) > 1 and _cpus() > 1 and threading.active_count() == 1)
            else 1
        )
    if workers <= 1 or len(files) < 2:
        yield (parse_records_file(p, s1_count) for p in files)
        return
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool.map(functools.partial(parse_records_file, s1_count=s1_count), files)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
