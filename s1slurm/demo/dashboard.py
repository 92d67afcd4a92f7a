"""The demo's live view: one row per pipeline step (set from the pipeline's status by the demo).

Third-party output (vLLM, DeepSpeed, the Trainer) goes to log files; this table is what the
terminal shows while the demo runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from s1slurm.core.table_fit import FittedTable


@dataclass
class StepView:
    """What the table shows for one step."""

    name: str
    state: str = "waiting"
    detail: str = ""
    started: float | None = None
    ended: float | None = None

    def elapsed(self) -> str:
        if self.started is None:
            return ""
        return f"{(self.ended or time.time()) - self.started:5.0f}s"


@dataclass
class DemoView:
    """Every step of the demo, in order; the orchestrator and the pollers update it."""

    title: str
    steps: list[StepView] = field(default_factory=list)

    def step(self, name: str) -> StepView:
        for s in self.steps:
            if s.name == name:
                return s
        view = StepView(name)
        self.steps.append(view)
        return view

    def start(self, name: str, detail: str = "") -> None:
        s = self.step(name)
        s.state, s.detail, s.started = "running", detail, time.time()

    def finish(self, name: str, detail: str | None = None, state: str = "done") -> None:
        s = self.step(name)
        s.state, s.ended = state, time.time()
        if s.started is None:
            s.started = s.ended
        if detail is not None:
            s.detail = detail

    def table(self) -> FittedTable:
        """The live table: it fits the terminal (the progress wraps; nothing is cut)."""
        t = FittedTable(title=self.title, title_justify="left", expand=False)
        t.add_column("step")
        t.add_column("state")
        t.add_column("time", justify="right", priority=1)
        t.add_column("progress", wrap=True, min_width=20)
        colours = {"done": "green", "running": "yellow", "failed": "red", "waiting": "dim"}
        for s in self.steps:
            c = colours.get(s.state, "white")
            t.add_row(s.name, f"[{c}]{s.state}[/{c}]", s.elapsed(), s.detail)
        return t
