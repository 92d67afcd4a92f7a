"""Every shipped spec can be planned on a machine without internet: a dry run skips the checks that
need the Hugging Face hub and says so; a real submission never skips them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (REPO / "jobs").glob("*.yaml"))


def s1slurm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd / ".config")}
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", "--cluster", str(REPO / "cluster.yaml"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def stage_of(spec: str) -> str:
    for line in (REPO / "jobs" / spec).read_text().splitlines():
        if line.startswith("stage:"):
            return line.split(":", 1)[1].split("#")[0].strip()
    raise AssertionError(f"{spec} names no stage")


@pytest.mark.parametrize("spec", [s for s in SHIPPED if "32b" in s])
def test_a_32b_spec_dry_runs_offline_and_names_what_it_skipped(spec: str, tmp_path: Path):
    out = s1slurm(
        "--profile",
        "h100",
        "submit",
        stage_of(spec),
        "--config",
        str(REPO / "jobs" / spec),
        "--dry-run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "#SBATCH --gpus-per-node=8" in out.stdout
    assert "skipped" in out.stdout and "HF_HUB_OFFLINE" in out.stdout


def test_a_real_eval_submission_offline_still_needs_the_hub(tmp_path: Path):
    out = s1slurm(
        "--profile",
        "local",
        "submit",
        "eval",
        "--config",
        str(REPO / "jobs" / "eval-s1-32b.yaml"),
        cwd=tmp_path,
    )
    # Not reaching the hub is the machine's state, not bad input: exit 1, with the way out named.
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "aime24" in out.stderr and "set 'path' to a local copy" in out.stderr
    assert not list(tmp_path.glob("runs/eval-*")), "nothing may be created before the checks pass"
