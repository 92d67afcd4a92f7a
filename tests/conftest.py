"""Shared fixtures: paths to shared data, the real SLURM test cluster, a project-like work folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _cluster_reason() -> str | None:
    """Why the SLURM test cluster cannot be used, or None when it answers."""
    if shutil.which("sinfo") is None:
        return "sinfo not found: start the test cluster with tests/cluster/start.sh"
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"sinfo failed: {e}"
    if out.returncode != 0:
        return f"slurmctld not reachable: {out.stderr.strip()}"
    nodes = dict(line.split() for line in out.stdout.splitlines() if line.strip())
    if not {"node1", "node2"} <= set(nodes):
        return f"test cluster nodes node1/node2 not found (sinfo: {nodes})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip (with the reason, never silently pass) when the real test cluster is not running."""
    reason = _cluster_reason()
    if reason:
        if os.environ.get("S1SLURM_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"the SLURM test cluster is required here but unusable: {reason}")
        pytest.skip(reason)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A folder like a user's project: the repo's cluster.yaml and jobs/, as the current directory."""
    shutil.copy(REPO / "cluster.yaml", tmp_path / "cluster.yaml")
    shutil.copytree(REPO / "jobs", tmp_path / "jobs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def installed_s1slurm(tmp_path_factory) -> Path:
    """The ``s1slurm`` command of a wheel built from this checkout and installed into a fresh virtual
    environment outside it, as a cluster user installs the package (not ``pip install -e``). The
    environment sees this machine's packages (torch, vLLM, DeepSpeed...) but imports s1slurm from the
    wheel alone, so anything the package needs and does not ship fails here."""
    import sys

    root = tmp_path_factory.mktemp("installed")
    wheels, venv = root / "wheels", root / "venv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    [wheel] = wheels.glob("s1slurm-*.whl")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import s1slurm; print(s1slurm.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"s1slurm imported from {where}, not from the installed wheel"
    return venv / "bin" / "s1slurm"
