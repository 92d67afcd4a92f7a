"""How much one status refresh costs.

1. On the test cluster (tests/cluster/start.sh): submit a 1,000-task probe array, held (``--hold``)
   so that it occupies no node, and time one status refresh of it: the scheduler calls it makes
   (one batched ``squeue``, plus one ``sacct`` only for jobs squeue no longer knows) and its wall
   time. The array is cancelled afterwards.
2. Without SLURM: build and render the ``status --watch`` dashboard of a run of 10,000 tasks in
   mixed states (a fake scheduler answers), and time the rendering alone.

Run from the repository root:  python3 benchmarks/status_refresh.py [--tasks 1000] [--skip-cluster]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from s1slurm.core.atomic import atomic_write_json  # noqa: E402
from s1slurm.core.rundir import RunDir  # noqa: E402
from s1slurm.core.shard import make_shards  # noqa: E402
from s1slurm.launch.scheduler import CallResult, Scheduler  # noqa: E402
from s1slurm.launch.task_status import read_status  # noqa: E402
from s1slurm.monitor.progress import ProgressReader  # noqa: E402
from s1slurm.monitor.render import RunView, dashboard  # noqa: E402
from s1slurm.stages import get_stage  # noqa: E402


def cluster_refresh(tasks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench.yaml").write_text(
            yaml.safe_dump(
                {
                    "stage": "probe",
                    "name": "status-bench",
                    "tasks": tasks,
                    "cluster": {"extra_sbatch": {"hold": True}, "array_parallelism": 4},
                }
            )
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "s1slurm",
                "--cluster",
                str(REPO / "cluster.yaml"),
                "--profile",
                "ci",
                "submit",
                "probe",
                "--config",
                "bench.yaml",
            ],
            capture_output=True,
            text=True,
            cwd=work,
            timeout=600,
        )
        submit_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stdout + proc.stderr)
        [path] = (work / "runs").glob("probe-*")
        run = RunDir.open(path)
        arrays = [a["job_id"] for s in run.read_manifest()["submissions"] for a in s["arrays"]]
        try:
            times, calls = [], []
            for _ in range(5):
                scheduler = Scheduler()  # a fresh process each time, as a one-shot 's1slurm status'
                t0 = time.perf_counter()
                status = read_status(run, scheduler=scheduler)
                times.append(time.perf_counter() - t0)
                calls.append(status.calls)
            print(
                f"cluster: {tasks} tasks in {len(arrays)} array(s), submitted in {submit_s:.1f} s; "
                f"states {dict(status.counts)}"
            )
            print(
                f"  one status refresh: {min(calls)}-{max(calls)} scheduler call(s), "
                f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
            )
            known = sum(status.counts.values())
            print(
                f"workload check (cluster): {known:,} of {tasks:,} tasks given a state by the scheduler: "
                + ("OK" if known == tasks and min(calls) >= 1 else "NOT EXERCISED")
            )
        finally:
            subprocess.run(["scancel", *arrays], capture_output=True)


def fake_run(root: Path, n: int) -> RunDir:
    run = RunDir.create(root, "probe")
    shards = make_shards("probe", n)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "probe",
            "stage_ref": get_stage("probe").ref().to_dict(),
            "executor": "slurm",
            "profile_name": "bench",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "tasks": [
                {
                    "index": i,
                    "shard": s.to_dict(),
                    "shard_id": s.id,
                    "job_id": f"{100 + i // 1000}_{i % 1000}",
                }
                for i, s in enumerate(shards)
            ],
        },
    )
    for s in shards[: n // 2]:
        run.mark_done(s)
    return run


def render_10k(n: int = 10_000) -> None:
    states = ["RUNNING", "PENDING", "FAILED", "COMPLETED", "TIMEOUT"]

    def fake(cmd, timeout):
        lines = [
            f"{100 + i // 1000}_{i % 1000}|{states[i % 5]}|node{i % 2 + 1}|0:05|None"
            for i in range(n // 2, n)
        ]
        return CallResult(True, "\n".join(lines))

    with tempfile.TemporaryDirectory() as tmp:
        run = fake_run(Path(tmp), n)
        scheduler = Scheduler(runner=fake, which=lambda name: name)
        reader = ProgressReader()
        t0 = time.perf_counter()
        status = read_status(run, scheduler=scheduler)
        view = RunView(status, progress=reader.read(status))
        build_s = time.perf_counter() - t0
        times = []
        for _ in range(10):
            console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system="truecolor")
            t0 = time.perf_counter()
            console.print(dashboard([view]))
            times.append(time.perf_counter() - t0)
        lines = console.file.getvalue().count("\n")
        counted = sum(status.counts.values())
        print(
            f"workload check (dashboard): {counted:,} of {n:,} tasks in {len(status.counts)} states: "
            + ("OK" if counted == n and len(status.counts) >= 4 else "NOT EXERCISED")
        )
        print(
            f"dashboard of {n} tasks: status + progress built in {build_s * 1000:.0f} ms (fake scheduler), "
            f"rendered in median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
            f"({lines} lines)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--skip-cluster", action="store_true")
    args = parser.parse_args()
    if not args.skip_cluster:
        cluster_refresh(args.tasks)
    render_10k()


if __name__ == "__main__":
    main()
