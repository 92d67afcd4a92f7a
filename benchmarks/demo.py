"""Wall time of ``s1slurm demo`` (full and ``--quick``) as a new user runs it.

Runs the demo in a fresh temporary folder (empty home, no ``../shared``), then prints the wall time,
the time of each step (data, model, train, eval, report, from the run folders), the scaling it
measured, the machine (CPUs, load average before and after) and the engine. Speed goes here, never
into a test. Usage::

    python benchmarks/demo.py            # full and --quick, one after the other
    python benchmarks/demo.py --quick    # only --quick
    python benchmarks/demo.py --full
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(quick: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="s1slurm-demo-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("S1SLURM_", "SLURM_"))}
        # The machine's compiled DeepSpeed CPU collectives are reused (a first run compiles them once).
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TORCH_EXTENSIONS_DIR=compiled_ops())
        load_before = os.getloadavg()
        started = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "s1slurm", "demo", *(["--quick"] if quick else [])],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.time() - started
        load_after = os.getloadavg()
        folders = sorted((work / "runs").glob("demo-*"))
        summary = json.loads((folders[-1] / "demo.json").read_text()) if folders else {}
        steps = step_times(Path(summary["pipeline_run"])) if summary.get("pipeline_run") else {}
        return {
            "mode": "quick" if quick else "full",
            "exit_code": proc.returncode,
            "wall_s": round(wall, 1),
            "steps_s": steps,
            "accuracy_by_budget": summary.get("accuracy_by_budget"),
            "rise_points": summary.get("rise_points"),
            "engine": summary.get("engine"),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "tail": proc.stdout[-600:] if proc.returncode else "",
        }


def compiled_ops() -> str:
    """torch's build folder for C++ extensions under the real home (where DeepSpeed's op lies)."""
    import torch
    from torch.utils.cpp_extension import get_default_build_root

    cu = "cpu" if torch.version.cuda is None else f"cu{torch.version.cuda.replace('.', '')}"
    py = f"py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"
    return os.environ.get("TORCH_EXTENSIONS_DIR") or str(Path(get_default_build_root()) / f"{py}_{cu}")


def step_times(pipeline_run: Path) -> dict[str, float]:
    """Seconds between consecutive done markers of the pipeline (train, eval, report)."""
    start = json.loads((pipeline_run / "manifest.json").read_text()).get("created", 0.0)
    out: dict[str, float] = {}
    for marker in sorted((pipeline_run / "done").glob("*.done"), key=lambda p: p.stat().st_mtime):
        end = marker.stat().st_mtime
        out[marker.name.split("-")[0]] = round(end - start, 1)
        start = end
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the --quick demo")
    parser.add_argument("--full", action="store_true", help="only the full demo")
    args = parser.parse_args()
    modes = [True] if args.quick else [False] if args.full else [False, True]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    for quick in modes:
        figures = run(quick)
        print(json.dumps(figures, indent=1), flush=True)
        # the wall time means something when every step ran and more thinking raised accuracy
        steps, rise = figures["steps_s"], figures["rise_points"]
        work = figures["exit_code"] == 0 and len(steps) >= 4 and isinstance(rise, (int, float)) and rise > 0
        print(
            f"workload check ({figures['mode']}): exit code {figures['exit_code']}, {len(steps)} pipeline steps "
            f"timed ({', '.join(steps)}), accuracy rise {rise} points with thinking: "
            + ("OK" if work else "NOT EXERCISED"),
            flush=True,
        )


if __name__ == "__main__":
    main()
