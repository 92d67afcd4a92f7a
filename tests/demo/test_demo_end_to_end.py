"""``s1slurm demo --quick`` end to end, as a new user runs it: installed from a wheel (not the
checkout), from an empty folder with no ``../shared`` beside it and an empty home, in an
80-column terminal: the whole recipe runs, test-time scaling is real, and its tables are whole."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.terminal_screen import CUT, Screen, run_in_tmux

pytestmark = pytest.mark.slow

# What engine and trainer logs look like; none of it may reach the terminal.
THIRD_PARTY = re.compile(
    r"^(INFO|WARNING|DEBUG) \d\d-\d\d|\[(INFO|WARNING)\]|real_accelerator|"
    r"EngineCore|torch\.distributed|Loading weights|^\(\w+ pid=\d+\)",
    re.MULTILINE,
)


def _compiled_ops() -> str:
    """torch's build folder for C++ extensions under the real home. DeepSpeed compiles its CPU
    shared-memory collectives there on a machine's first training run (minutes on 2 cores, once;
    see benchmarks/README.md): the new user's empty home reuses this machine's build."""
    import torch
    from torch.utils.cpp_extension import get_default_build_root

    cu = "cpu" if torch.version.cuda is None else f"cu{torch.version.cuda.replace('.', '')}"
    py = f"py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"
    return os.environ.get("TORCH_EXTENSIONS_DIR") or str(Path(get_default_build_root()) / f"{py}_{cu}")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1SLURM_", "SLURM_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        TORCH_EXTENSIONS_DIR=_compiled_ops(),
    )
    return env


@dataclass
class QuickDemo:
    """What the demo left: its exit, its screen (as shown, and as written with wrapped lines
    joined), its summary (``demo.json``) and the empty folder it ran in."""

    returncode: int | None
    screen: Screen
    summary: dict
    work: Path

    @property
    def stdout(self) -> str:
        return self.screen.written


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory, installed_s1slurm) -> QuickDemo:
    work = tmp_path_factory.mktemp("fresh-user")
    assert not (work.parent / "shared").exists()
    home = work / "home"
    home.mkdir()
    # A new user's environment: no s1slurm variables, no checkout on the path (the wheel's package only).
    unset = [a for k in os.environ if k.startswith(("S1SLURM_", "SLURM_")) for a in ("-u", k)]
    env = [
        f"{k}={v}"
        for k, v in _env(home).items()
        if k in ("HOME", "XDG_CONFIG_HOME", "HF_HUB_OFFLINE", "PYTHONUNBUFFERED", "TORCH_EXTENSIONS_DIR")
    ]
    screen = run_in_tmux(
        [*unset, "-u", "PYTHONPATH", *env, str(installed_s1slurm), "demo", "--quick"], work, 80, timeout=1500
    )
    exited = re.search(r"EXITED (\d+)", screen.shown)
    folders = sorted((work / "runs").glob("demo-quick-*"))
    summary = json.loads((folders[-1] / "demo.json").read_text()) if folders else {}
    return QuickDemo(int(exited.group(1)) if exited else None, screen, summary, work)


def test_quick_demo_trains_and_shows_test_time_scaling(quick_demo):
    proc, summary = quick_demo, quick_demo.summary
    assert proc.returncode == 0, proc.stdout[-3000:]
    acc = {int(k): v for k, v in summary["accuracy_by_budget"].items()}
    assert sorted(acc) == [2, 8, 32] and summary["questions"] == 30
    # the curve rises: at least 15 points from the smallest thinking budget to the largest
    assert 100 * (acc[32] - acc[2]) >= 15, acc
    report = {k: Path(v) for k, v in summary["report"].items()}
    for name in ("report.html", "scaling.png", "training_curves.png"):  # the training run's curves too
        assert report[name].is_file() and report[name].stat().st_size > 0
        assert f"{name}:" in proc.stdout and str(report[name]) in proc.stdout.replace("\n", "")
    assert "test-time scaling on 30 held-out questions" in proc.stdout


def test_every_answer_counted_right_is_the_gold_letter_itself(quick_demo):
    """The grader's maths equivalence is lenient with letters (it takes ``E`` for ``e``): in the
    demo, where the three rings share letter shapes, a right answer must be the gold letter exactly."""
    from s1slurm.core.rundir import RunDir
    from s1slurm.pipeline.status import runs_by_step

    summary = quick_demo.summary
    eval_run = runs_by_step(RunDir(Path(summary["pipeline_run"])))["eval"]
    records = [
        json.loads(line)
        for path in eval_run.path.glob("outputs/*/records.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert len(records) == 30 * 3
    right = [r for r in records if r["correct"]]
    assert right and all(r["extracted_answer"] == r["gold_answer"] for r in right)


def test_curation_removes_the_held_out_questions_planted_in_the_pool(quick_demo):
    from s1slurm.demo.tasks import all_problems

    proc, summary = quick_demo, quick_demo.summary
    pool = len(all_problems()) - 30 + 3  # every other problem, plus 3 planted held-out questions
    assert f"decontaminate {pool} -> {pool - 3}" in summary["curation"]
    assert f"curation: collect {pool} -> {pool}" in proc.stdout


def test_curation_runs_every_step_and_training_reads_the_selection(quick_demo):
    from s1slurm.core.rundir import RunDir
    from s1slurm.curate.store import read_jsonl
    from s1slurm.demo.run import select_n
    from s1slurm.demo.tasks import all_problems
    from s1slurm.pipeline.status import runs_by_step

    summary = quick_demo.summary
    kept, chosen = len(all_problems()) - 30, select_n(len(all_problems()) - 30 + 3, 3)
    for step in ("traces", "attempts", "domains"):
        assert f"{step} {kept} -> {kept}" in summary["curation"]
    assert f"select {kept} -> {chosen}" in summary["curation"] and chosen < kept
    folder = Path(summary["pipeline_run"]).parent.parent
    attempts = read_jsonl(folder / "curation" / "attempts" / "attempts.jsonl")
    assert len(attempts) == kept and all(
        json.loads(r["attempts"])[0]["model"].endswith("model-base") for r in attempts
    )
    train = runs_by_step(RunDir(Path(summary["pipeline_run"])))["train"]
    assert str(folder / "curation" / "select" / "select.jsonl") in train.spec_path.read_text()


def test_demo_needs_nothing_beside_the_package_and_keeps_logs_off_the_terminal(quick_demo):
    proc, summary, work = quick_demo, quick_demo.summary, quick_demo.work
    assert proc.returncode == 0
    assert Path(summary["pipeline_run"]).is_relative_to(work)
    assert not THIRD_PARTY.search(proc.stdout), proc.stdout[-3000:]
    logs = [Path(p) for p in summary["logs"]]
    assert logs[0].name == "demo.log" and logs[0].stat().st_size > 0
    assert any(p.name.startswith("rank-") for p in logs)  # the trainer's ranks, named at the end
    for p in logs:
        assert str(p) in proc.stdout.replace("\n", "")


@pytest.mark.parametrize(
    "args, needle", [(["--engine", "tensorrt"], "--engine"), (["--profile", "nosuch"], "nosuch")]
)
def test_bad_demo_options_are_refused_with_exit_2(tmp_path: Path, args, needle):
    proc = subprocess.run(
        [sys.executable, "-m", "s1slurm", "demo", *args],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_its_tables_are_whole_in_80_columns(quick_demo):
    """The key table (each method with its Control, Scaling and Performance) and the live table of
    the steps, left on screen, are readable in 80 columns: nothing cut, no line broken."""
    screen, summary = quick_demo.screen, quick_demo.summary
    assert quick_demo.returncode == 0, screen.shown[-3000:]
    assert CUT not in screen.shown and screen.too_wide() == []
    report = json.loads(Path(summary["report"]["report.json"]).read_text())
    rows = [line for line in screen.table_lines() if line.startswith("│")]
    for c in report["methods"]:
        assert any(
            c["benchmark"] in r
            and c["method"] in r
            and f"{c['control']:.1f}" in r
            and f"{c['scaling_log2']:+,.2f}" in r
            and f"{c['performance']:.1f}" in r
            for r in rows
        ), c
    for name in ("data", "model", "curate", "train", "eval", "report"):
        assert any(line.split("│")[1].strip() == name for line in rows if line.count("│") > 2)
