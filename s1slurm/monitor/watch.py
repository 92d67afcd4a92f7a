"""``status --watch``: poll runs with back-off and show them live (rich) or as plain lines.

The screen is redrawn at most once a second. SLURM is asked (one squeue, one sacct, for all runs
together) every ``min_interval`` seconds while something changes, and less and less often, up to
``max_interval``, while nothing does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live

from s1slurm.core.rundir import RunDir
from s1slurm.launch.scheduler import Scheduler
from s1slurm.launch.task_status import read_statuses
from s1slurm.monitor.progress import ProgressReader
from s1slurm.monitor.render import RunView, dashboard, plain_line, status_table
from s1slurm.pipeline.status import pipeline_failure
from s1slurm.stages import stage_of


@dataclass
class Backoff:
    """The delay before the next poll: back to ``minimum`` on change, doubled (up to ``maximum``) otherwise."""

    minimum: float = 2.0
    maximum: float = 30.0
    current: float = 0.0

    def __post_init__(self) -> None:
        self.current = self.minimum

    def next(self, changed: bool) -> float:
        self.current = self.minimum if changed else min(self.current * 2, self.maximum)
        return self.current


def build_views(runs: list[RunDir], scheduler: Scheduler, reader: ProgressReader) -> list[RunView]:
    """Status, progress and failure of ``runs``; each run brings the runs it made (a pipeline its
    steps'), shown right after it, with one scheduler query for all of them."""
    all_runs: dict[Path, RunDir] = {}  # a run given and also made by another one given: shown once
    for run in runs:
        manifest = run.read_manifest(require=("tasks",))  # a folder s1slurm did not write: its error first
        for r in (run, *stage_of(run, manifest).related_runs(run)):
            all_runs.setdefault(r.path, r)
    statuses = read_statuses(list(all_runs.values()), scheduler)
    by_path = {s.run.path: s for s in statuses}
    views = []
    for status in statuses:
        steps = stage_of(status.run, status.manifest).steps(status, by_path)
        failure = pipeline_failure(steps) if steps else status.failure
        views.append(RunView(status, progress=reader.read(status), steps=steps, failure=failure))
    return views


def _signature(views: list[RunView]) -> tuple:
    return tuple(
        (
            v.status.run.path,
            tuple(t.state for t in v.status.tasks),
            v.progress.done if v.progress else 0,
            tuple(s["state"] for s in v.steps),
        )
        for v in views
    )


def watch(
    runs: list[RunDir],
    console: Console,
    *,
    min_interval: float = 2.0,
    max_interval: float = 30.0,
    timeout: float | None = None,
    plain: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RunView]:
    """Show ``runs`` until every task of every run has ended (or ``timeout`` seconds pass)."""
    scheduler, reader = Scheduler(), ProgressReader()
    backoff = Backoff(max(min_interval, 1.0), max(max_interval, min_interval))
    start = time.time()
    views = build_views(runs, scheduler, reader)
    last_sig = _signature(views)
    next_poll = time.time() + backoff.current
    plain = (not console.is_terminal) if plain is None else plain

    def over() -> bool:
        return all(v.finished for v in views) or (timeout is not None and time.time() - start > timeout)

    if plain:
        console.print("\n".join(plain_line(v) for v in views), markup=False, highlight=False, soft_wrap=True)
        while not over():
            sleep(max(0.0, next_poll - time.time()))
            views = build_views(runs, scheduler, reader)
            sig = _signature(views)
            if sig != last_sig or over():
                console.print(
                    "\n".join(plain_line(v) for v in views), markup=False, highlight=False, soft_wrap=True
                )
            next_poll = time.time() + backoff.next(sig != last_sig)
            last_sig = sig
        for view in views:  # the end: every task's final state, once
            if not view.steps:
                console.print(status_table(view.status, max_rows=200))
        return views
    with Live(dashboard(views), console=console, auto_refresh=False, transient=False) as live:
        while not over():
            sleep(1.0)  # the screen changes at most once a second
            if time.time() >= next_poll:
                views = build_views(runs, scheduler, reader)
                sig = _signature(views)
                next_poll = time.time() + backoff.next(sig != last_sig)
                last_sig = sig
            live.update(dashboard(views), refresh=True)
    return views
