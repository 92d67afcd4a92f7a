"""The state of a pipeline's steps, from its links' status and the status of the runs its steps made.

A step is ``DONE`` when its run is complete, ``RUNNING``/``PENDING`` as its run is, ``FAILED`` when
its run (or its link) failed, ``WAITING`` while its link waits for the step before, and ``BLOCKED``
when a step before it failed (the reason says which): its link never runs. A failed step carries
its :class:`~s1slurm.launch.task_status.Failure` (the first line of its error and the log that holds
the rest), which the dashboards print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s1slurm.core.rundir import RunDir
from s1slurm.launch.task_status import FAILURES, Failure, RunStatus, TaskStatus, first_line
from s1slurm.pipeline.chain import StepPaths
from s1slurm.pipeline.spec import REPORT, PipelineSpec

STEP_TERMINAL = {"DONE", "FAILED", "BLOCKED", "CANCELLED"}


def _spec(manifest: dict) -> PipelineSpec:
    return PipelineSpec.model_validate(manifest["spec"])


def runs_by_step(run: RunDir) -> dict[str, RunDir]:
    """The runs a pipeline's steps made so far, by step name, in step order."""
    spec = _spec(run.read_manifest())
    children = {step.step_name: StepPaths(run, spec, i).child() for i, step in enumerate(spec.steps)}
    return {name: child for name, child in children.items() if child is not None}


def report_folder(run: RunDir) -> Path | None:
    """Where a pipeline's report step writes its files (None: it has no report step)."""
    spec = _spec(run.read_manifest())
    return next((StepPaths(run, spec, i).root for i, s in enumerate(spec.steps) if s.stage == REPORT), None)


def step_runs(run: RunDir) -> list[RunDir]:
    """The runs a pipeline's steps made so far, in step order."""
    return list(runs_by_step(run).values())


def _first_problem(status: RunStatus) -> TaskStatus | None:
    return next(
        (t for t in status.tasks if not t.done and (t.state in FAILURES or t.state == "CANCELLED")), None
    )


def pipeline_steps(status: RunStatus, runs: dict[Path, RunStatus]) -> list[dict[str, Any]]:
    """One row per step: name, stage, state, its run and why it is in that state."""
    spec = _spec(status.manifest)
    rows: list[dict[str, Any]] = []
    stopped: str | None = None  # the step that stopped the chain, if any
    for i, step in enumerate(spec.steps):
        link = status.tasks[i]
        child = StepPaths(status.run, spec, i).child()
        child_status = runs.get(child.path) if child is not None else None
        row: dict[str, Any] = {
            "index": i,
            "name": step.step_name,
            "stage": step.stage,
            "run": str(child.path) if child else None,
            "run_name": child.name if child else None,
            "why": "",
        }
        if stopped is not None and not link.done:
            state, why = "BLOCKED", stopped
        elif link.done or (
            child_status is not None and child_status.tasks and all(t.done for t in child_status.tasks)
        ):
            state, why = "DONE", ""
            left = StepPaths(status.run, spec, i).stage.unfinished(child) if not link.done and child else None
            if left is not None:  # the step's own chain goes on in other runs (a curation's next steps)
                state, why = "RUNNING", left
        elif child_status is not None:
            problem = _first_problem(child_status)
            active = [t for t in child_status.tasks if t.active]
            done = sum(t.done for t in child_status.tasks)
            unsent = [t for t in child_status.tasks if t.state == "NOT SUBMITTED"]
            if unsent and link.active:
                state, why = "RUNNING", "submitting the step"
            elif unsent and not active and problem is None:
                state = "FAILED"
                why = _submission_error(child_status) or f"{len(unsent)} task(s) were never submitted"
            elif problem is not None and not active and link.active:  # 'resume' relaunched its link
                state, why = "WAITING", f"resuming the step (link job {link.job_id} {link.state.lower()})"
            elif problem is not None and not active:
                state = "CANCELLED" if problem.state == "CANCELLED" else "FAILED"
                detail = first_line(problem.error or problem.reason or "")
                why = f"task {problem.index} {problem.state}" + (f": {detail}" if detail else "")
            elif any(t.state == "RUNNING" for t in child_status.tasks):
                state, why = "RUNNING", f"{done}/{len(child_status.tasks)} shards done"
            elif active:
                state, why = "PENDING", f"{done}/{len(child_status.tasks)} shards done"
            else:
                state, why = "FAILED", f"{done}/{len(child_status.tasks)} shards done, the rest ended"
        else:
            state, why = _link_state(link, step.stage, i, spec)
        if state in ("FAILED", "CANCELLED") and stopped is None:
            stopped = f"step '{step.step_name}' " + ("was cancelled" if state == "CANCELLED" else "failed")
        failure = (
            _step_failure(step.step_name, state, why, status, link, child_status)
            if state == "FAILED"
            else None
        )
        row.update(
            state=state,
            why=why,
            terminal=state in STEP_TERMINAL,
            link_job=link.job_id,
            failure=failure.to_dict() if failure else None,
        )
        rows.append(row)
    return rows


def _link_state(link: TaskStatus, stage: str, index: int, spec: PipelineSpec) -> tuple[str, str]:
    """A step without a run yet: what its link job is doing."""
    before = f"step '{spec.steps[index - 1].step_name}'" if index else "the start"
    if link.state in ("NOT SUBMITTED", "NOT RUN"):
        return "WAITING", f"submitted once {before} is under way"
    if link.state == "PENDING":
        if "DependencyNeverSatisfied" in link.reason:
            return "BLOCKED", f"{before} failed (its dependency can never be satisfied)"
        return "WAITING", f"waits for {before}" + (f" ({link.reason})" if link.reason else "")
    if link.state == "RUNNING":
        return "RUNNING", "building the report" if stage == REPORT else "submitting the step"
    if link.state == "CANCELLED" and "Dependency" in (link.reason or ""):
        return "BLOCKED", f"{before} failed"
    if link.state in FAILURES or link.state == "CANCELLED":
        return ("FAILED" if link.state != "CANCELLED" else "CANCELLED"), (
            link.error or link.reason or link.state
        )
    if link.state == "COMPLETED":
        return "FAILED", "the link ended without starting the step"
    return link.state, link.reason


def _step_failure(
    name: str, state: str, why: str, links: RunStatus, link: TaskStatus, run: RunStatus | None
) -> Failure:
    """What failed in step ``name``: a task of its run, else its link (which submits the step or
    builds the report), else what the row says."""
    where = f"step '{name}'"
    if run is not None and run.failure is not None:
        return run.failure.within(where)
    if link.state in FAILURES:
        return links.failure_of(link).within(where)
    return Failure(where, first_line(why or state))


def pipeline_failure(steps: list[dict[str, Any]]) -> Failure | None:
    """The failure of the first failed step of a pipeline (from its rows), if any."""
    row = next((r for r in steps if r.get("failure")), None)
    if row is None:
        return None
    f = row["failure"]
    return Failure(f["where"], f["first_line"], Path(f["log"]) if f.get("log") else None)


def _submission_error(status: RunStatus) -> str | None:
    """The error of the step run's last submission, if it failed."""
    subs = status.manifest.get("submissions") or []
    return subs[-1].get("error") if subs else None
