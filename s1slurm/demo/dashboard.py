"""The demo's live view: one row per pipeline step, read from the run folders only.

Third-party output (vLLM, DeepSpeed, the Trainer) goes to log files; this table is what the
terminal shows while the demo runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from s1slurm.core.rundir import RunDir
from s1slurm.train.paths import TrainPaths


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

    def table(self) -> Table:
        t = Table(title=self.title, title_justify="left", expand=False)
        t.add_column("step")
        t.add_column("state")
        t.add_column("time", justify="right")
        t.add_column("progress")
        colours = {"done": "green", "running": "yellow", "failed": "red", "waiting": "dim"}
        for s in self.steps:
            c = colours.get(s.state, "white")
            t.add_row(s.name, f"[{c}]{s.state}[/{c}]", s.elapsed(), s.detail)
        return t


def child_runs(pipeline_run: Path) -> dict[str, RunDir]:
    """The run each started pipeline step made, by step name."""
    out: dict[str, RunDir] = {}
    for record in sorted((pipeline_run / "outputs").glob("*/step.json")):
        try:
            out[record.parent.name.split("-")[0]] = RunDir.open(json.loads(record.read_text())["run"])
        except (OSError, ValueError, KeyError, Exception):  # half-written: read it next time
            continue
    return out


def train_progress(run: RunDir, total: int | None) -> str:
    """``step 120/400, loss 0.41`` from the training run's step log."""

    try:
        lines = TrainPaths(run).steps_log.read_text().splitlines()
        last = json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        last = None
    if last is None:
        return "starting 2 ranks (DeepSpeed ZeRO-3)"
    of = f"/{total}" if total else ""
    return f"step {last['step']}{of}, loss {last['loss']:.3f}"


def eval_progress(run: RunDir, total: int | None) -> str:
    """``records 120/150`` from the evaluation run's record files."""
    n = 0
    for path in run.outputs_dir.glob("*/records.jsonl"):
        try:
            with open(path, "rb") as f:
                n += sum(1 for _ in f)
        except OSError:
            continue
    if n == 0:
        return "loading the engine"
    return f"records {n}" + (f"/{total}" if total else "")


def curate_progress(run: RunDir) -> str:
    """``collect 654 -> 651, decontaminate 651 -> 648`` from the curation folder's step markers."""
    info = run.read_manifest().get("curate") or {}
    out, steps = info.get("out"), info.get("steps") or []
    parts = []
    for step in steps:
        try:
            marker = json.loads((Path(out) / f"{step}.done").read_text())
        except (OSError, ValueError, TypeError):
            parts.append(f"{step} ...")
            break
        parts.append(f"{step} {marker.get('in', '?')} -> {marker.get('out', '?')}")
    return ", ".join(parts)
