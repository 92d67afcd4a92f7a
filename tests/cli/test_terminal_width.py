"""Every table the command line prints is readable in an 80-column terminal (issue 20).

The real commands run in tmux at 80 and 120 columns and the screen is read back: nothing the user
needs is cut with ``…``, names and numbers appear whole, table rows are never broken by the terminal,
and what leaves a narrow table is named under it (or, for notes, listed under it).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard, make_shards
from s1slurm.eval.records import BudgetSetting
from s1slurm.report import build_report
from s1slurm.report.text import control_text, interval, num, signed
from s1slurm.stages import get_stage
from tests.cli.terminal_screen import CUT, run_in_tmux
from tests.conftest import REPO, SHARED_DATA
from tests.report.report_runs import make_plan, record, write_run

S1SLURM = [sys.executable, "-m", "s1slurm"]
ERROR = (
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.35 GiB total capacity) "
    "see logs/train/rank-0.log"
)


@pytest.fixture(autouse=True)
def _tmux():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed to read the commands' screens (apt-get install tmux)")


def training_run(root: Path) -> RunDir:
    """A local three-task run whose first task failed on rank 0 while rank 1 ran (a long note)."""
    run = RunDir.create(root, "train")
    shards = make_shards("train", 3)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "train",
            "stage_ref": get_stage("train").ref().to_dict(),
            "executor": "local",
            "profile_name": "local",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "tasks": [
                {"index": i, "shard": s.to_dict(), "shard_id": s.id, "job_id": f"7700{i}"}
                for i, s in enumerate(shards)
            ],
        },
    )
    for rank, state in ((0, "failed"), (1, "running")):
        atomic_write_json(
            run.task_state_path(0, rank),
            {
                "task": 0,
                "rank": rank,
                "state": state,
                "time": time.time(),
                "host": "node1",
                "pid": 999_999,
                "job_id": "77000",
                "error": ERROR if rank == 0 else None,
                "elapsed_s": 3723,
            },
        )
    return run


@pytest.mark.parametrize("width", [80, 120])
def test_status_keeps_the_note_of_a_failed_task_whole(tmp_path, width):
    run = training_run(tmp_path)
    screen = run_in_tmux([*S1SLURM, "status", str(run.path)], tmp_path, width)
    assert "EXITED 0" in screen.shown and screen.too_wide() == [] and CUT not in screen.shown
    for word in [
        *ERROR.split(),
        "0:failed",
        "1:running",
        "FAILED",
        *(f"7700{i}" for i in range(3)),
        *(s.id for s in make_shards("train", 3)),
    ]:
        assert word in screen.shown.split(), word
    assert screen.shown.count("NOT RUN") == 2
    if width == 120:  # every column fits
        assert "01:02:03" in screen.shown and "node1" in screen.shown and "not shown" not in screen.shown
    else:  # what left the table is said under it
        assert "(not shown at this width: nodes, elapsed)" in screen.shown


def evaluation_run(root: Path) -> Path:
    """Two benchmarks, budget forcing at four budgets and token-conditional control at two."""
    forcing = [BudgetSetting(max_thinking_tokens=n, method="budget_forcing") for n in (512, 1024, 2048, 4096)]
    stated = [
        BudgetSetting(max_thinking_tokens=n, stated_tokens=n, method="token_conditional") for n in (512, 2048)
    ]
    settings, questions = forcing + stated, [f"q{i}" for i in range(5)]
    lines: dict[Shard, Iterable[str]] = {
        Shard(b, 0, 1): [
            record(b, s, q, 0, (j + k) % 3 != 0, min(s.max_thinking_tokens or 0, 300 + 100 * k))
            for k, s in enumerate(settings)
            for j, q in enumerate(questions)
        ]
        for b in ("aime24", "math500")
    }
    plan = make_plan({"aime24": questions, "math500": questions}, settings, 1)
    return write_run(root, "eval-widths", plan, lines)


@pytest.mark.parametrize("width", [80, 120])
def test_report_shows_each_method_and_accuracy_whole(tmp_path, width):
    run = evaluation_run(tmp_path)
    expected = build_report([run], tmp_path / "expected")
    screen = run_in_tmux([*S1SLURM, "report", str(run), "--out", str(tmp_path / "out")], tmp_path, width)
    assert "EXITED 0" in screen.shown and screen.too_wide() == [] and CUT not in screen.shown
    rows = [line for line in screen.table_lines() if line.startswith("│")]
    for c in expected.methods:  # the key table: one row per benchmark and method, the paper's numbers whole
        assert any(
            c.benchmark in r
            and c.method in r
            and control_text(c) in r
            and signed(c.scaling_log2) in r
            and f"{c.performance:.1f}" in r
            for r in rows
        ), (c.benchmark, c.method)
        at = f"benchmark {c.benchmark} method {c.method}  at: {c.performance_setting}"
        assert (at in screen.shown) == (width == 80)  # the setting moves under the table when narrow
    for m in expected.settings:  # the table of every setting: method, setting, accuracy with its interval
        accuracy = f"{m.accuracy:.1f} [{m.ci_low:.1f}, {m.ci_high:.1f}]"
        assert any(
            m.method in line
            and m.setting in line
            and accuracy in line
            and num(m.avg_thinking_tokens, 0) in line
            for line in screen.written.splitlines()
        )
    if width == 80:  # the intervals leave first, and say so
        assert "(not shown at this width: [CI], [CI] , [CI]  )" not in screen.shown
        assert "(not shown at this width: [CI])" in screen.shown
    else:  # wider: the interval of the performance figure is back, beside it
        for c in expected.methods:
            assert any(interval(c.performance_ci) in r and c.method in r for r in rows)


def test_plan_train_fits_80_columns_with_every_figure(tmp_path):
    shutil.copy(REPO / "cluster.yaml", tmp_path / "cluster.yaml")
    command = [*S1SLURM, "plan", "train", "-c", str(REPO / "jobs" / "train-s1-32b.yaml"), "--profile", "h100"]
    screen = run_in_tmux(command, tmp_path, 80)
    assert "EXITED 0" in screen.shown
    plan = screen.written[screen.written.index("Training plan:") : screen.written.index("EXITED")]
    assert [line for line in plan.splitlines() if len(line) > 80] == []  # the terminal broke none of it
    # The same plan through a pipe, one line per row as in logs: every item and figure is on the screen.
    piped = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    table = piped[piped.index("Training plan:") : piped.index("tokens per step")]
    rows = [re.match(r"  (.+?) +([\d.]+ GB)(.*)", line) for line in table.splitlines()[2:] if line.strip()]
    assert len(rows) >= 8 and all(rows)
    words = plan.split()
    for row in rows:
        item, gb, rest = row.groups()
        assert all(w in words for w in item.split()) and gb in plan, row.group(0)
        assert all(w in words for w in rest.split()), row.group(0)
    assert rows[-1].group(3).strip() in plan  # the verdict "of 80 GB: fits, ..% headroom" on one line


def test_profiles_fold_long_paths_and_keep_names_whole(tmp_path):
    deep = tmp_path / "a-rather-long-folder-name-for-cluster-settings" / "of-the-research-group"
    deep.mkdir(parents=True)
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    cluster["profiles"]["h100-preemptible-long-partition"] = dict(
        cluster["profiles"]["h100"], partition="gpu-preemptible-long"
    )
    (deep / "cluster.yaml").write_text(yaml.safe_dump(cluster))
    for width in (80, 120):
        screen = run_in_tmux([*S1SLURM, "--cluster", str(deep / "cluster.yaml"), "profiles"], tmp_path, width)
        assert "EXITED 0" in screen.shown and CUT not in screen.shown
        words = screen.shown.split()
        assert "h100-preemptible-long-partition" in words and "gpu-preemptible-long" in words
        table = screen.written[screen.written.index("profile ") : screen.written.index("EXITED")].splitlines()
        head = table[0]
        assert len(head.rstrip()) <= width
        start = head.index("from")
        pieces = "".join(line[start:].strip() for line in table[1:] if line.strip())
        assert pieces.count(str(deep / "cluster.yaml")) == len(cluster["profiles"])  # folded, never cut


def test_decontaminate_table_keeps_long_benchmark_names(tmp_path):
    pool = tmp_path / "pool.jsonl"
    rows = SHARED_DATA.joinpath("pool", "college_math.jsonl").read_text().splitlines(True)
    pool.write_text("".join(rows[:60]))
    bench = tmp_path / "math500_level5_geometry_and_number_theory_subset.jsonl"
    with bench.open("w") as f:
        for line in SHARED_DATA.joinpath("benchmarks", "math500.jsonl").read_text().splitlines()[:40]:
            row = json.loads(line)
            f.write(json.dumps({"question": row["problem"], "answer": row["answer"]}) + "\n")
    aime = f"aime24={SHARED_DATA / 'benchmarks' / 'aime24.jsonl'}"
    screen = run_in_tmux(
        [*S1SLURM, "decontaminate", str(pool), "--against", aime, "--against", str(bench), "--out", "rep"],
        tmp_path,
        80,
    )
    assert "EXITED 0" in screen.shown and CUT not in screen.shown and screen.too_wide() == []
    report = json.loads((tmp_path / "rep" / "contamination.json").read_text())
    assert screen.column("benchmark") == "".join(report["benchmarks"])  # each name whole, in order


def test_demo_tables_fit_80_columns(tmp_path):
    """The demo's live table and its last one (the report's), drawn from a finished demo's state."""
    from s1slurm.demo.dashboard import DemoView
    from s1slurm.report import render_terminal

    view = DemoView(f"s1slurm demo (quick): {tmp_path / 'runs' / 'demo-quick-20261206T030000Z-0a1b2c'}")
    details = {
        "data": "400 questions, 30 held out",
        "model": "tiny Llama, 2 layers",
        "curate": "collect 654 -> 651, decontaminate 651 -> 648, neardup 648 -> 640, select 640 -> 400",
        "train": "step 400/400, loss 0.412",
        "eval": "records 150/150",
        "report": "report.html",
    }
    for name, detail in details.items():
        view.start(name)
        view.finish(name, detail)
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=False, color_system=None, soft_wrap=True)
    console.print(view.table())
    run = evaluation_run(tmp_path)
    render_terminal(build_report([run], tmp_path / "out"), console)
    text = buffer.getvalue()
    assert CUT not in text and all(len(line) <= 80 for line in text.splitlines() if line[:1] in "┏┃┡│└")
    for detail in details.values():
        assert all(word in text.split() for word in detail.split())
    assert "budget_forcing" in text.split() and "token_conditional" in text.split()


def test_pipeline_steps_keep_why_a_step_waits_whole_at_80_columns():
    from s1slurm.monitor.render import steps_table

    why = "waiting for step 'train' (run train-20261206T030000Z-a1b2c3, 2 of 4 tasks done)"
    steps = [
        {
            "name": "curate",
            "stage": "curate",
            "state": "DONE",
            "run_name": "curate-20261206T020000Z-9f8e7d",
            "why": "",
        },
        {"name": "evaluate", "stage": "eval", "state": "WAITING", "run_name": None, "why": why},
    ]
    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None, soft_wrap=True).print(steps_table(steps))
    text = buffer.getvalue()
    assert CUT not in text and all(len(line) <= 80 for line in text.splitlines())
    assert all(word.strip(",()'") in text for word in why.split())  # the run it waits for, whole
    assert "curate-20261206T020000Z-9f8e7d" in text and "(not shown at this width: stage)" in text


# The real `s1slurm demo --quick` in 80 columns: tests/demo/test_demo_end_to_end.py (one demo run serves
# the end-to-end checks, the installed wheel and the screen).
