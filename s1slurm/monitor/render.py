"""Rich views of a run: the status table and the live dashboard of ``status --watch``."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from s1slurm.core.rundir import RunDir
from s1slurm.monitor.status import RunStatus, read_status

_STYLE = {"DONE": "green", "COMPLETED": "green", "RUNNING": "cyan", "PENDING": "yellow",
          "REQUEUED": "yellow", "FAILED": "red", "CANCELLED": "magenta", "TIMEOUT": "red",
          "OUT_OF_MEMORY": "red", "NODE_FAIL": "red", "PREEMPTED": "yellow", "LOST": "red",
          "NOT RUN": "magenta", "NOT SUBMITTED": "magenta"}


def status_table(status: RunStatus, max_rows: int | None = None) -> Table:
    """One row per task: shard, job id, state, nodes, elapsed, error."""
    m = status.manifest
    table = Table(title=f"{m['run']} ({m['stage']}, {m.get('executor')}, profile {m.get('profile_name')})",
                  title_justify="left")
    for col in ("task", "shard", "job id", "state", "nodes", "elapsed", "note"):
        table.add_column(col, no_wrap=col != "note")
    rows = status.tasks
    # With many tasks, show the interesting ones first: failures, running, then the rest.
    if max_rows is not None and len(rows) > max_rows:
        order = {"FAILED": 0, "TIMEOUT": 0, "OUT_OF_MEMORY": 0, "NODE_FAIL": 0, "RUNNING": 1}
        rows = sorted(rows, key=lambda t: (order.get(t.state, 2), t.index))[:max_rows]
    for t in rows:
        note = t.error or ""
        if len(t.ranks) > 1:
            note = (note + " " if note else "") + "ranks: " + " ".join(f"{r}:{s}" for r, s in t.ranks.items())
        table.add_row(str(t.index), t.shard_id, t.job_id or "-",
                      Text(t.state, style=_STYLE.get(t.state, "")), t.nodes or "-", t.elapsed or "-", note)
    if max_rows is not None and len(status.tasks) > max_rows:
        table.caption = f"{len(status.tasks) - max_rows} more task(s) not shown"
    return table


def summary(status: RunStatus) -> Group:
    """Counts per state and a progress bar of completed shards."""
    total = len(status.tasks)
    done = sum(t.done for t in status.tasks)
    counts = "  ".join(f"[{_STYLE.get(s, 'default')}]{s}: {n}[/]" for s, n in sorted(status.counts.items()))
    return Group(Text.from_markup(f"{done}/{total} shards done   {counts}"),
                 ProgressBar(total=max(total, 1), completed=done, width=60), Text(""))


def watch(run: RunDir, console: Console, interval: float = 5.0, max_rows: int = 30,
          timeout: float | None = None) -> RunStatus:
    """Refresh the dashboard until every task is finished (or ``timeout`` seconds pass)."""
    start = time.time()
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            status = read_status(run)
            live.update(Panel(Group(summary(status), status_table(status, max_rows)),
                              title=f"s1slurm status --watch ({time.strftime('%H:%M:%S')})"))
            if status.finished or (timeout is not None and time.time() - start > timeout):
                return status
            time.sleep(interval)
