"""SLURM submission through submitit: arrays (split at the cluster's ``MaxArraySize``), multi-node
jobs, dry runs that print the exact sbatch scripts, and ``sbatch --test-only``.

A split array keeps its ``%array_parallelism`` across all of its chunks: chunk k+1 is submitted with
``--dependency=afterany:<chunk k>``, so at most one chunk runs at a time and at most N of its tasks.
(Sizing ``%N`` per chunk would either exceed N in total or leave slots idle, and fails when there
are more chunks than N.) Each accepted chunk is reported to the caller before the next is submitted,
so a refusal of a later chunk never loses the job ids SLURM already accepted.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_text
from s1slurm.core.errors import SlurmError
from s1slurm.core.rundir import RunDir
from s1slurm.launch.base import Launcher, PlannedTask, Submission
from s1slurm.launch.environment import scrubbed, submission_environment
from s1slurm.launch.scheduler import max_array_size


def sbatch_parameters(profile, job_name: str, *, requeue: bool = False) -> dict[str, Any]:
    """Profile fields as submitit SLURM parameters (its names; values are quoted by submitit).

    ``requeue`` adds ``#SBATCH --requeue``: without it, clusters with ``JobRequeue=0`` refuse the
    ``scontrol requeue`` a stopping training job asks for.
    """
    params: dict[str, Any] = {
        "job_name": job_name,
        "time": profile.time_minutes,
        "nodes": profile.nodes,
        "ntasks_per_node": profile.tasks_per_node,
        "signal_delay_s": profile.signal_delay_s,
        "stderr_to_stdout": False,
        # submitit writes --wckey=submitit by default, which sites that enforce wckeys refuse; a profile
        # that needs one sets it under extra_sbatch
        "wckey": None,
    }
    for key in ("partition", "account", "qos", "constraint", "cpus_per_task"):
        value = getattr(profile, key)
        if value is not None:
            params[key] = value
    if profile.gpus_per_node:
        params["gpus_per_node"] = profile.gpus_per_node
    if profile.mem_gb is not None:
        mem = profile.mem_gb
        params["mem"] = f"{int(mem)}GB" if mem == int(mem) else f"{int(mem * 1024)}MB"
    # Setup lines are the user's own shell; env values are data and are always quoted.
    setup = list(profile.setup)
    setup += [f"export {name}={shlex.quote(value)}" for name, value in profile.env.items()]
    if setup:
        params["setup"] = setup
    srun: list[str] = []
    if profile.cpus_per_task is not None:
        # Slurm 22.05-23.02's srun does not inherit --cpus-per-task from sbatch: with core binding,
        # torchrun and its ranks would then share one core.
        srun.append(f"--cpus-per-task={profile.cpus_per_task}")
    if profile.container is not None:
        srun.append(f"--container-image={profile.container.image}")
        if profile.container.mounts:
            srun.append(f"--container-mounts={','.join(profile.container.mounts)}")
        if profile.container.workdir:
            srun.append(f"--container-workdir={profile.container.workdir}")
    if srun:
        params["srun_args"] = srun
    extra: dict[str, Any] = {"requeue": True} if requeue else {}
    extra.update(profile.extra_sbatch)  # the profile's own sbatch options win
    if extra:
        params["additional_parameters"] = extra
    return params


def chunks(tasks: list[PlannedTask], size: int) -> list[list[PlannedTask]]:
    """Split the task list into arrays of at most ``size`` tasks."""
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


# SLURM's own default MaxArraySize, used when the cluster cannot be asked (dry runs away from it).
SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001


class PartialSubmissionError(SlurmError):
    """SLURM refused a chunk after accepting earlier ones; ``submission`` holds what it accepted."""

    def __init__(self, message: str, submission: Submission) -> None:
        super().__init__(message)
        self.submission = submission


def _with_dependency(params: dict[str, Any], dependency: str) -> dict[str, Any]:
    """``params`` with ``dependency`` added to any the profile already asks for (all must hold)."""
    extra = dict(params.get("additional_parameters") or {})
    own = extra.get("dependency")
    extra["dependency"] = f"{own},{dependency}" if own else dependency
    return {**params, "additional_parameters": extra}


class SlurmLauncher(Launcher):
    """Submits one array (or one job) per chunk of at most ``max_array_size`` tasks."""

    name = "slurm"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._chunk_size: int | None = None

    def preflight(self) -> None:
        _require_sbatch()

    def chunk_size(self) -> int:
        """Tasks per array: the smaller of the profile's ``max_array_size`` and the cluster's
        ``MaxArraySize`` when ``scontrol`` tells it (a profile written for another cluster must not
        make sbatch refuse a later chunk); the profile's alone, or SLURM's default, otherwise.
        Indices run 0..MaxArraySize-1; 0 means no arrays at all, so one job per task."""
        if self._chunk_size is None:
            found = max_array_size()
            cluster = None if found is None else max(found, 1)
            wanted = [n for n in (self.profile.max_array_size, cluster) if n is not None]
            self._chunk_size = min(wanted) if wanted else SLURM_DEFAULT_MAX_ARRAY_SIZE
        return self._chunk_size

    def _python(self) -> str:
        import sys

        return self.profile.python or shlex.quote(sys.executable)

    def _params(self, n_tasks: int) -> dict[str, Any]:
        params = sbatch_parameters(self.profile, self.spec.job_name, requeue=self.stage.requeueable)
        params["array_parallelism"] = self.profile.array_parallelism or n_tasks
        return params

    def _script(self, run: RunDir, n_tasks: int) -> str:
        from submitit.slurm.slurm import _make_sbatch_string

        command = " ".join(
            [self._python(), "-u -m submitit.core._submit", shlex.quote(str(run.submitit_dir))]
        )
        return _make_sbatch_string(
            command=command,
            folder=run.submitit_dir,
            map_count=n_tasks if n_tasks > 1 else None,
            **self._params(n_tasks),
        )

    def render(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        return [self._script(run, len(chunk)) for chunk in chunks(tasks, self.chunk_size())]

    def test(self, run: RunDir, tasks: list[PlannedTask]) -> list[str]:
        sbatch = _require_sbatch()
        answers = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(self.render(run, tasks)):
                path = Path(tmp) / f"array-{i:03d}.sh"
                path.write_text(text)
                try:
                    proc = subprocess.run(
                        [sbatch, "--test-only", str(path)],
                        capture_output=True,
                        text=True,
                        env=scrubbed(os.environ),
                        timeout=60,
                    )
                except (OSError, subprocess.TimeoutExpired) as e:
                    raise SlurmError(f"sbatch --test-only could not be run: {e}") from None
                answer = (proc.stderr + proc.stdout).strip()
                if proc.returncode != 0:
                    raise SlurmError(f"SLURM would refuse array {i}: {answer}")
                answers.append(f"array {i} ({len(chunks(tasks, self.chunk_size())[i])} task(s)): {answer}")
        return answers

    def launch(
        self, run: RunDir, tasks: list[PlannedTask], on_chunk: Callable[[Submission], None] | None = None
    ) -> Submission:
        import submitit
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        _require_sbatch()
        submission = Submission(executor="slurm")
        run.sbatch_dir.mkdir(exist_ok=True)
        parts = chunks(tasks, self.chunk_size())
        previous: str | None = None
        for i, chunk in enumerate(parts):
            executor = submitit.SlurmExecutor(
                folder=run.submitit_dir, python=self._python(), max_num_timeout=self.spec.max_requeues
            )
            params = self._params(len(chunk))
            if previous and self.profile.array_parallelism:
                params = _with_dependency(params, f"afterany:{previous}")  # the limit holds across chunks
            executor.update_parameters(**params)
            callables = [self.make_task(run, t) for t in chunk]
            try:
                with submission_environment():
                    if len(callables) == 1:
                        jobs = [executor.submit(callables[0])]
                    else:
                        jobs = executor.submit_array(callables)
            except (FailedJobError, FailedSubmissionError, subprocess.CalledProcessError, OSError) as e:
                if i:
                    raise PartialSubmissionError(
                        f"sbatch refused array {i + 1} of {len(parts)} after accepting {i} (job(s) "
                        f"{', '.join(a['job_id'] for a in submission.arrays)}, recorded in manifest.json; "
                        f"'s1slurm cancel' reaches them, 's1slurm resume' submits the rest): "
                        f"{_slurm_words(e)}",
                        submission,
                    ) from None
                raise SlurmError(f"sbatch refused the submission: {_slurm_words(e)}") from None
            base_id = jobs[0].job_id.split("_")[0]
            script = run.sbatch_dir / f"{base_id}.sh"  # job ids are unique: resubmissions never overwrite
            submitted_file = jobs[0].paths.submission_file
            text = submitted_file.read_text() if submitted_file.exists() else self._script(run, len(chunk))
            atomic_write_text(script, text)
            submission.arrays.append(
                {
                    "job_id": base_id,
                    "first_task": chunk[0].index,
                    "size": len(chunk),
                    "array": len(chunk) > 1,
                    "script": str(script.relative_to(run.path)),
                }
            )
            for task, job in zip(chunk, jobs):
                submission.task_jobs[task.index] = job.job_id
            previous = base_id
            if on_chunk is not None:
                on_chunk(submission)  # recorded now: a refusal or a crash later loses nothing
        return submission


def _require_sbatch() -> str:
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise SlurmError(
            "sbatch was not found on PATH: is this a SLURM login node? "
            "(use a profile with 'executor: local' to run on this machine)"
        )
    return sbatch


def _slurm_words(error: Exception) -> str:
    """The part of a failed sbatch call that SLURM wrote (its own words), without Python noise."""
    text = str(error)
    lines = [ln.strip() for ln in text.splitlines() if "sbatch:" in ln or "error" in ln.lower()]
    return "\n".join(dict.fromkeys(lines)) or text.strip()
