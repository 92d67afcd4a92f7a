"""Views of runs: the status table, the dashboard of ``status --watch``, plain lines and JSON.

Everything here draws from :class:`RunView` (a status plus progress) and never reads SLURM itself;
the dashboard only summarises (counts, a bounded number of rows), so it stays fast with 10,000 tasks.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from s1slurm.core.table_fit import FittedTable
from s1slurm.launch.task_logs import tail, task_logs
from s1slurm.launch.task_status import FAILURES, Failure, RunStatus, TaskStatus
from s1slurm.monitor.progress import RunProgress

STYLE = {
    "DONE": "green",
    "COMPLETED": "green",
    "RUNNING": "cyan",
    "PENDING": "yellow",
    "REQUEUED": "yellow",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "TIMEOUT": "red",
    "OUT_OF_MEMORY": "red",
    "NODE_FAIL": "red",
    "PREEMPTED": "yellow",
    "LOST": "red",
    "NOT RUN": "magenta",
    "NOT SUBMITTED": "magenta",
    "UNKNOWN": "dim",
    "BLOCKED": "magenta",
    "WAITING": "yellow",
}
# Order of the state columns: what needs attention first.
_ORDER = [
    "FAILED",
    "LOST",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "CANCELLED",
    "RUNNING",
    "PENDING",
    "REQUEUED",
    "DONE",
    "COMPLETED",
]


@dataclass
class RunView:
    """What a view shows about one run: its status, progress, and (pipelines) its steps."""

    status: RunStatus
    progress: RunProgress | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # pipelines: one row per step
    failure: Failure | None = None  # what failed first (task or step), its error's first line, its log

    @property
    def finished(self) -> bool:
        if self.steps:
            return all(s["terminal"] for s in self.steps)
        return self.status.finished


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; None -> ``-``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _key(state: str) -> tuple[int, str]:
    return (_ORDER.index(state) if state in _ORDER else len(_ORDER), state)


def counts_text(counts: Counter) -> Text:
    """``RUNNING 3  PENDING 5 ...`` in state colours, most urgent first."""
    text = Text()
    for state in sorted(counts, key=_key):
        if text:
            text.append("  ")
        text.append(f"{state.lower()} {counts[state]}", style=STYLE.get(state, ""))
    return text


def scheduler_line(status: RunStatus) -> str:
    """How fresh the information is: the live view, accounting, and the age of stale answers."""
    if status.accounting == "local":
        return "local run: state from the task files"
    parts = [
        "squeue ok" if status.squeue_ok else "squeue FAILING",
        {
            "ok": "sacct ok",
            "disabled": "no accounting (sacct disabled)",
            "failing": "sacct FAILING",
            "skipped": "sacct not needed",
            "absent": "no sacct",
        }.get(status.accounting, status.accounting),
    ]
    if status.stale is not None:
        parts.append(f"showing last known states, stale up to {duration(status.stale)}")
    if status.errors:
        parts.append(status.errors[-1][:160])
    return " · ".join(parts)


_STATUS_COLUMNS: dict[str, dict[str, Any]] = {
    "task": {},
    "shard": {"wrap": True, "min_width": 20},
    "job id": {"priority": 4},
    "state": {"wrap": True, "min_width": 9},
    "nodes": {"priority": 1, "wrap": True, "min_width": 8},
    "elapsed": {"priority": 2},
    "note": {"priority": 3, "wrap": True, "min_width": 20, "stack": True},
}


def status_table(status: RunStatus, max_rows: int | None = None) -> FittedTable:
    """One row per task: shard, job id, state, nodes, elapsed, note (the interesting ones first)."""
    m = status.manifest
    title = f"{m['run']} ({m['stage']}, {m.get('executor')}, profile {m.get('profile_name')})"
    table = FittedTable(
        title=title, title_justify="left", caption=scheduler_line(status), caption_justify="left"
    )
    # Narrow consoles: nodes and elapsed leave first, then the notes move under the table (never cut).
    for col, fit in _STATUS_COLUMNS.items():
        table.add_column(col, **fit)
    rows = status.tasks
    if max_rows is not None and len(rows) > max_rows:
        rows = sorted(rows, key=lambda t: (_key(t.state), t.index))[:max_rows]
    for t in rows:
        table.add_row(
            str(t.index),
            t.shard_id,
            t.job_id or "-",
            _state_text(t),
            t.nodes or "-",
            t.elapsed or "-",
            _note(t),
        )
    if max_rows is not None and len(status.tasks) > max_rows:
        table.caption = f"{len(status.tasks) - max_rows} more task(s) not shown · {scheduler_line(status)}"
    return table


def _state_text(t: TaskStatus) -> Text:
    text = Text(t.state, style=STYLE.get(t.state, ""))
    if t.stale_s is not None:
        text.append(f" (stale {duration(t.stale_s)})", style="dim")
    return text


def _note(t: TaskStatus) -> str:
    note = t.error or (t.reason if t.state == "PENDING" else "")
    if len(t.ranks) > 1:
        note = (note + " " if note else "") + "ranks: " + " ".join(f"{r}:{s}" for r, s in t.ranks.items())
    return note


def summary(status: RunStatus) -> Group:
    """Counts per state and a progress bar of completed shards."""
    total = len(status.tasks)
    done = sum(t.done for t in status.tasks)
    return Group(
        Text.assemble(f"{done}/{total} shards done   ", counts_text(status.counts)),
        bar_text(done, total, 60),
        Text(""),
    )


def bar_text(done: int, total: int | None, width: int = 40) -> Text:
    """A progress bar as plain styled text (cheap to draw: the dashboard has many of them)."""
    total = total or max(done, 1)
    filled = round(width * min(done, total) / total) if total else 0
    return Text.assemble(
        ("━" * filled, "green" if done >= total else "magenta"), ("━" * (width - filled), "grey23")
    )


def _arrays_lines(status: RunStatus, max_rows: int = 8) -> list[Text]:
    """One line per job (array) of the run: its tasks' states."""
    by_array: dict[str, Counter] = {}
    for t in status.tasks:
        array = (t.job_id or "-").split("_", 1)[0]
        counts = by_array.get(array)
        if counts is None:
            counts = by_array[array] = Counter()
        counts[t.state] += 1
    items = sorted(by_array.items(), key=lambda kv: (kv[0] == "-", kv[0]))
    width = max((len(a) for a, _ in items[:max_rows]), default=3)
    lines = [
        Text.assemble((f"job {a:<{width}} {sum(c.values()):>6} tasks  ", "bold"), counts_text(c))
        for a, c in items[:max_rows]
    ]
    if len(items) > max_rows:
        rest: Counter = Counter()
        for _, c in items[max_rows:]:
            rest.update(c)
        lines.append(
            Text.assemble(
                (f"+{len(items) - max_rows} more jobs {sum(rest.values()):>6} tasks  ", "bold"),
                counts_text(rest),
            )
        )
    return lines


def _shard_bars(view: RunView, max_rows: int) -> list[Text]:
    """Progress bars of the shards being worked on (running ones first, then partial ones)."""
    progress = view.progress
    if progress is None:
        return []
    rows = []
    for t in view.status.tasks:
        p = progress.shards.get(t.index)
        if p is None or t.done:
            continue
        if t.state == "RUNNING" or (p.done and p.total != p.done):
            rows.append((t, p))
    rows.sort(key=lambda tp: (tp[0].state != "RUNNING", tp[0].index))
    width = max((len(t.shard_id) for t, _ in rows[:max_rows]), default=0)
    lines = []
    for t, p in rows[:max_rows]:
        figures = f"{p.done}/{p.total if p.total is not None else '?'} {progress.unit}"
        lines.append(
            Text.assemble(
                f"{t.shard_id:<{width}} ",
                bar_text(p.done, p.total, 30),
                f" {figures:<18} ",
                _state_text(t),
                f" {t.nodes or ''}",
            )
        )
    if len(rows) > max_rows:
        lines.append(Text(f"... and {len(rows) - max_rows} more shard(s) in progress", style="dim"))
    return lines


def _failures(status: RunStatus, max_tasks: int = 3, lines: int = 3) -> list[RenderableType]:
    """The most recent failed or lost tasks, with the last lines of their logs."""
    failed = [t for t in status.tasks if t.state in FAILURES and not t.done]
    if not failed:
        return []
    out: list[RenderableType] = [Text(f"recent failures ({len(failed)}):", style="bold red")]
    for t in sorted(failed, key=lambda t: -(t.started or 0))[:max_tasks]:
        out.append(
            Text(
                f"  task {t.index} {t.shard_id} {t.state}: {t.error or t.reason or ''}"[:300],
                style=STYLE.get(t.state, ""),
            )
        )
        try:
            files = task_logs(status.run, status.manifest, t.index)
        except Exception:
            files = []
        err = [f for f in files if f.label.endswith("err") or f.label == "log"][:1]
        for f in err:
            for line in tail(f.path, lines):
                out.append(Text(f"    | {line[:200]}", style="dim"))
    return out


def _nodes(status: RunStatus) -> str:
    nodes = sorted({n for t in status.tasks if t.state == "RUNNING" for n in (t.nodes or "").split(",") if n})
    return ", ".join(nodes[:20]) + (f" (+{len(nodes) - 20})" if len(nodes) > 20 else "") if nodes else "-"


def run_panel(view: RunView, max_shards: int = 12) -> Panel:
    """The dashboard panel of one run."""
    status, progress = view.status, view.progress
    m = status.manifest
    parts: list[RenderableType] = [Text(scheduler_line(status), style="dim")]
    title = Text(f"{m['run']}  ({m['stage']}, {m.get('executor')}, profile {m.get('profile_name')})")
    if view.steps:  # a pipeline: its tasks are only the links between steps; the steps say it all
        parts.append(steps_table(view.steps))
        parts += failure_lines(view)
        return Panel(Group(*parts), title=title, title_align="left")
    total = len(status.tasks)
    done = sum(t.done for t in status.tasks)
    parts.append(Text.assemble((f"{done}/{total} shards done  ", "bold"), counts_text(status.counts)))
    if progress is not None and progress.unit != "shards":
        parts.append(
            Text.assemble(
                bar_text(progress.done, progress.total, 50),
                f" {progress.done}/{progress.total if progress.total is not None else '?'} "
                f"{progress.unit} · {_rate(progress)} · ETA {duration(progress.eta_s)}",
            )
        )
    else:
        parts.append(Text.assemble(bar_text(done, total, 50), f" {done}/{total}"))
    parts += _arrays_lines(status)
    parts += _shard_bars(view, max_shards)
    parts.append(Text(f"nodes: {_nodes(status)}"))
    parts += _failures(status)
    return Panel(Group(*parts), title=title, title_align="left")


def failure_lines(view: RunView) -> list[Text]:
    """The failure, named where the user looks: which step or task, its error's first line, its log."""
    return [Text(f"✗ {view.failure.line()}", style="bold red")] if view.failure else []


def _rate(progress: RunProgress) -> str:
    if progress.rate is None:
        return "rate -"
    per_min = progress.rate * 60
    text = (
        f"{progress.rate:.2f} {progress.unit}/s"
        if progress.rate >= 1
        else f"{per_min:.1f} {progress.unit}/min"
    )
    tokens = progress.rates.get("tokens/s")
    return text + (f", {tokens:,.0f} tokens/s" if tokens is not None else "")


_STEP_COLUMNS: dict[str, dict[str, Any]] = {
    "step": {},
    "stage": {"priority": 1},
    "state": {},
    "run": {"priority": 2},
    "why": {"priority": 3, "wrap": True, "min_width": 24, "stack": True},
}


def steps_table(steps: list[dict[str, Any]]) -> FittedTable:
    """A pipeline's steps: stage, state, its run and why it is where it is."""
    table = FittedTable(box=None, pad_edge=False, header_style="bold")
    for col, fit in _STEP_COLUMNS.items():
        table.add_column(col, **fit)
    for s in steps:
        table.add_row(
            s["name"],
            s["stage"],
            Text(s["state"], style=STYLE.get(s["state"], "")),
            s.get("run_name") or "-",
            s.get("why") or "",
        )
    return table


def dashboard(views: list[RunView]) -> Group:
    """The whole screen of ``status --watch``: one panel per run and a clock."""
    return Group(
        *[run_panel(v) for v in views],
        Text(
            f"s1slurm status --watch · {time.strftime('%H:%M:%S')} · Ctrl-C leaves the jobs running",
            style="dim",
        ),
    )


def plain_line(view: RunView) -> str:
    """One line per run for logs and pipes (no terminal)."""
    status, progress = view.status, view.progress
    done = sum(t.done for t in status.tasks)
    if view.steps:  # a pipeline: its steps say it all (its tasks are only the links between them)
        return (
            f"{time.strftime('%H:%M:%S')} {status.manifest['run']}: "
            + " | ".join(
                f"{s['name']}:{s['state']}"
                + (f" ({s['why']})" if s.get("why") and s["state"] != "DONE" else "")
                for s in view.steps
            )
            + (f"\n  {view.failure.line()}" if view.failure else "")
        )
    counts = " ".join(
        f"{s.lower()}={n}" for s, n in sorted(status.counts.items(), key=lambda kv: _key(kv[0]))
    )
    line = f"{time.strftime('%H:%M:%S')} {status.manifest['run']}: {done}/{len(status.tasks)} shards done {counts}"
    if progress is not None and progress.unit != "shards":
        line += (
            f" | {progress.done}/{progress.total if progress.total is not None else '?'} {progress.unit}"
            f" {_rate(progress)} eta {duration(progress.eta_s)}"
        )
    if not status.squeue_ok or status.stale is not None:
        line += f" | {scheduler_line(status)}"
    return line + (f"\n  {view.failure.line()}" if view.failure else "")


def as_json(views: list[RunView]) -> dict[str, Any]:
    """One JSON document for scripts: every run, its counts, progress and tasks."""
    runs = []
    for v in views:
        s = v.status
        runs.append(
            {
                "run": s.manifest["run"],
                "path": str(s.run.path),
                "stage": s.manifest["stage"],
                "executor": s.manifest.get("executor"),
                "finished": v.finished,
                "counts": dict(s.counts),
                "done": sum(t.done for t in s.tasks),
                "tasks_total": len(s.tasks),
                "scheduler": {
                    "squeue_ok": s.squeue_ok,
                    "accounting": s.accounting,
                    "errors": s.errors,
                    "stale_s": s.stale,
                    "calls": s.calls,
                    "time": s.taken,
                },
                "progress": v.progress.to_dict() if v.progress else None,
                "steps": v.steps or None,
                "failure": v.failure.to_dict() if v.failure else None,
                "tasks": [t.to_dict() for t in s.tasks],
            }
        )
    return {"runs": runs}
