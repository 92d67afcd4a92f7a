"""Local execution: the tasks run one after the other in this process, with a progress bar."""

from __future__ import annotations

import contextlib
import logging
import traceback

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import Launcher, PlannedTask, Submission


class LocalLauncher(Launcher):
    """Runs every task in the foreground; a failing task is recorded and the others still run."""

    name = "local"

    def __init__(self, *args, console: Console | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.console = console or Console(stderr=True)

    def render(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        lines = [f"# local execution in this process: {len(tasks)} task(s), run folder {run.path}"]
        lines += [f"task {t.index}: {self.stage_name} shard {t.shard.id}" for t in tasks]
        return ["\n".join(lines)]

    def launch(self, run: RunDir, tasks: list[PlannedTask], on_chunk=None) -> Submission:
        submission = Submission(executor="local")
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=self.console, transient=False) as progress:
            bar = progress.add_task(f"{self.stage_name} tasks", total=len(tasks))
            for task in tasks:
                progress.update(bar, description=f"{self.stage_name} {task.shard.id}")
                log_path = run.local_log_path(task.index)
                with _log_to(log_path, task.index):
                    try:
                        self.make_task(run, task)()
                    except Exception as e:  # recorded in the task state; the other tasks still run
                        submission.failed_tasks.append(task.index)
                        with open(log_path, "a", encoding="utf-8") as log:  # the log holds the whole error
                            log.write(f"task {task.index} failed:\n{traceback.format_exc()}")
                        progress.console.print(
                            f"[red]task {task.index} ({task.shard.id}) failed: "
                            f"{type(e).__name__}: {e}[/red] (log: {log_path})"
                        )
                progress.advance(bar)
        return submission


@contextlib.contextmanager
def _log_to(path, task_index: int):
    """Copy the task's log lines into its log file in the run folder."""
    logger = logging.getLogger(f"s1slurm.task.{task_index}.0")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(f"%(asctime)s task {task_index} %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
