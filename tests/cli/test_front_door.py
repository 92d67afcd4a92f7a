"""What a new user meets: a first run anywhere, options where they type them, init and profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s1slurm.cli.app import app
from s1slurm.cli.handling import run_app
from s1slurm.core.errors import ConfigError


def bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with no cluster.yaml anywhere (HOME and XDG folders are empty)."""
    env = {k: v for k, v in os.environ.items() if k != "S1SLURM_CLUSTER"}
    for name in ("home", "xdg-config", "xdg-cache"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
    )
    return env


def s1slurm(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_a_probe_runs_from_an_empty_folder_with_no_cluster_yaml_anywhere(tmp_path):
    env = bare_env(tmp_path)
    spec = tmp_path / "specs" / "probe.yaml"
    spec.parent.mkdir()
    spec.write_text("stage: probe\ntasks: 2\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = s1slurm("submit", "probe", "--config", str(spec), env=env, cwd=empty)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ran 2 task(s) of probe locally: 2 succeeded" in proc.stdout
    [run] = list((empty / "runs").iterdir())
    assert json.loads((run / "manifest.json").read_text())["executor"] == "local"
    listed = s1slurm("profiles", env=env, cwd=empty)
    assert listed.returncode == 0, listed.stderr
    assert "<built-in>" in listed.stdout and "local (default)" in listed.stdout
    assert "current folder: cluster.yaml (absent)" in listed.stdout


def test_the_before_stop_checks_exit_2_without_traceback(tmp_path):
    env = bare_env(tmp_path)
    for args, needle in (
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["submit"], "Missing argument"),
        (["status", "--nosuchoption", "x"], "No such option: --nosuchoption"),
    ):
        proc = s1slurm(*args, env=env, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert needle in proc.stderr and proc.stderr.startswith("Usage: s1slurm"), proc.stderr


def dry_run(capsys, *args: str) -> str:
    code = run_app(app, list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_profile_and_cluster_are_accepted_after_the_command_and_win_there(workdir, capsys):
    spec = ("submit", "probe", "--config", "jobs/probe.yaml", "--dry-run")
    assert "#SBATCH --partition=debug" in dry_run(capsys, *spec, "--profile", "ci")
    assert "#SBATCH" not in dry_run(capsys, *spec)  # the file's default: local
    assert "#SBATCH" not in dry_run(capsys, "--profile", "ci", *spec, "--profile", "local")
    assert "#SBATCH --partition=debug" in dry_run(capsys, "--profile", "local", *spec, "--profile", "ci")
    (workdir / "other.yaml").write_text(
        "default: x\nprofiles:\n  x:\n    executor: slurm\n    partition: other\n"
    )
    assert "#SBATCH --partition=other" in dry_run(
        capsys, "--cluster", "cluster.yaml", *spec, "--cluster", "other.yaml"
    )


def test_dry_run_prints_the_stages_plan_before_the_scripts(workdir, capsys, monkeypatch):
    from s1slurm.stages.probe import ProbeStage

    monkeypatch.setattr(
        ProbeStage, "plan_text", lambda self, spec, profile, width=None: f"PLAN on {profile.partition}"
    )
    out = dry_run(capsys, "--profile", "ci", "submit", "probe", "--config", "jobs/probe.yaml", "--dry-run")
    assert out.startswith("PLAN on debug\n") and out.index("PLAN") < out.index("#!/bin/bash")


def test_force_is_passed_to_the_stages_check(workdir, capsys, monkeypatch):
    from s1slurm.stages.probe import ProbeStage

    def check(self, spec, profile, spec_path, *, force=False, dry_run=False):
        if not force:
            raise ConfigError("the estimate says it will not fit", field="tasks")

    monkeypatch.setattr(ProbeStage, "check", check)
    args = ["submit", "probe", "--config", "jobs/probe.yaml", "--dry-run"]
    assert run_app(app, args) == 2
    assert "jobs/probe.yaml: field 'tasks': the estimate says it will not fit" in capsys.readouterr().err
    assert run_app(app, [*args, "--force"]) == 0


def test_init_writes_a_commented_file_that_loads_and_never_overwrites_without_force(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert run_app(app, ["init"]) == 0
    text = (tmp_path / "cluster.yaml").read_text()
    assert text.count("\n#") + text.count("\n  #") > 10  # commented for a reader
    assert "# slurm:" in text and "default: local" in text
    (tmp_path / "cluster.yaml").write_text(text + "# my edit\n")
    capsys.readouterr()
    assert run_app(app, ["init"]) == 2
    assert "cluster.yaml: already exists" in capsys.readouterr().err
    assert (tmp_path / "cluster.yaml").read_text().endswith("# my edit\n")
    assert run_app(app, ["init", "--force"]) == 0
    assert "# my edit" not in (tmp_path / "cluster.yaml").read_text()


def test_init_user_writes_to_the_user_config_folder_that_every_folder_then_finds(
    tmp_path, monkeypatch, capsys
):
    env = bare_env(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    monkeypatch.chdir(tmp_path / "home")
    assert run_app(app, ["init", "--user"]) == 0
    written = Path(env["XDG_CONFIG_HOME"]) / "s1slurm" / "cluster.yaml"
    assert written.is_file()
    capsys.readouterr()
    assert run_app(app, ["profiles"]) == 0
    out = capsys.readouterr().out
    assert f"profiles from: {written} (user config folder)" in out


@pytest.mark.parametrize("args", [["init", "--path", "a.yaml", "--user"]])
def test_init_refuses_contradictory_options(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert run_app(app, args) == 2
    assert "--user" in capsys.readouterr().err and not (tmp_path / "a.yaml").exists()


def test_a_profile_asked_for_with_no_cluster_file_anywhere_says_how_to_write_one(tmp_path):
    env = bare_env(tmp_path)
    (tmp_path / "p.yaml").write_text("stage: probe\nprofile: h100\n")
    proc = s1slurm("submit", "probe", "--config", "p.yaml", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no profile named 'h100'" in proc.stderr and "s1slurm init" in proc.stderr, proc.stderr
