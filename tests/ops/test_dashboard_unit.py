"""The dashboard's content, rendered to text without a terminal or SLURM (a fake scheduler answers)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import make_shards
from s1slurm.launch.scheduler import Scheduler
from s1slurm.launch.task_status import read_status
from s1slurm.monitor.progress import ProgressReader
from s1slurm.monitor.render import RunView, as_json, dashboard, plain_line
from s1slurm.monitor.watch import Backoff

from .test_status_rules import FakeSlurm, own_state, stage_ref


def eval_run(tmp_path, n_shards: int = 2, questions: int = 4) -> RunDir:
    run = RunDir.create(tmp_path, "eval")
    shards = make_shards("math500", n_shards)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "eval",
            "stage_ref": stage_ref("eval"),
            "executor": "slurm",
            "profile_name": "ci",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "eval_plan": {
                "benchmarks": {
                    "math500": {"question_ids": [f"q{i}" for i in range(questions)], "shards": n_shards}
                },
                "settings": [{"max_thinking_tokens": 8}, {"max_thinking_tokens": 16}],
                "samples": 1,
            },
            "tasks": [
                {"index": i, "shard": s.to_dict(), "shard_id": s.id, "job_id": f"40_{i}"}
                for i, s in enumerate(shards)
            ],
        },
    )
    return run


def render(views, width=140) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(dashboard(views))
    return console.file.getvalue()


def test_eval_shards_show_records_done_out_of_planned_with_rate_and_failures(tmp_path):
    run = eval_run(tmp_path)
    out = run.outputs_dir / "math500-00000-of-00002"
    out.mkdir(parents=True)
    (out / "records.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    own_state(run, 1, "failed", "40_1", error="RuntimeError: CUDA out of memory")
    (run.submitit_dir / "40_1_0_log.err").write_text(
        "loading model\nTraceback ...\nRuntimeError: CUDA out of memory\n"
    )
    fake = FakeSlurm(live={"40_0": "RUNNING", "40_1": "FAILED"})
    status = read_status(run, scheduler=Scheduler(runner=fake, which=lambda n: n))
    reader = ProgressReader()
    view = RunView(status, progress=reader.read(status))
    assert (view.progress.done, view.progress.total, view.progress.unit) == (3, 8, "records")
    text = render([view])
    assert "math500-00000-of-00002" in text and "3/4 records" in text  # the running shard's bar
    assert "3/8 records" in text and "recent failures (1)" in text
    assert "| RuntimeError: CUDA out of memory" in text  # the last lines of its log
    assert "node1" in text  # where it runs
    line = plain_line(view)
    assert "0/2 shards done" in line and "failed=1" in line and "running=1" in line and "3/8 records" in line
    doc = as_json([view])["runs"][0]
    assert doc["counts"] == {"RUNNING": 1, "FAILED": 1} and doc["progress"]["total"] == 8
    json.dumps(doc)


def test_ten_thousand_tasks_render_a_bounded_screen(tmp_path):
    run = RunDir.create(tmp_path, "probe")
    shards = make_shards("probe", 10_000)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "probe",
            "stage_ref": stage_ref("probe"),
            "executor": "slurm",
            "profile_name": "ci",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "tasks": [
                {"index": i, "shard": s.to_dict(), "shard_id": s.id, "job_id": f"{50 + i // 1000}_{i % 1000}"}
                for i, s in enumerate(shards)
            ],
        },
    )
    states = ["RUNNING", "PENDING", "TIMEOUT", "COMPLETED"]
    fake = FakeSlurm(live={f"{50 + i // 1000}_{i % 1000}": states[i % 4] for i in range(10_000)})
    status = read_status(run, scheduler=Scheduler(runner=fake, which=lambda n: n))
    text = render([RunView(status, progress=ProgressReader().read(status))])
    assert "running 2500" in text and "timeout 2500" in text
    assert "+2 more" in text  # ten arrays: eight listed, the rest summed
    assert text.count("\n") < 60  # a summary, not 10,000 rows


def test_polling_backs_off_while_nothing_changes():
    b = Backoff(2.0, 30.0)
    assert [b.next(False) for _ in range(5)] == [4.0, 8.0, 16.0, 30.0, 30.0]
    assert b.next(True) == 2.0


def test_training_progress_is_the_last_logged_step(tmp_path):
    run = RunDir.create(tmp_path, "train")
    [shard] = make_shards("train", 1)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "train",
            "stage_ref": stage_ref("train"),
            "executor": "slurm",
            "profile_name": "ci",
            "profile": {},
            "command_line": [],
            "submissions": [],
            "tasks": [{"index": 0, "shard": shard.to_dict(), "shard_id": shard.id, "job_id": "60"}],
        },
    )
    steps = run.outputs_dir / shard.id / "steps.jsonl"
    steps.parent.mkdir(parents=True)
    steps.write_text(
        "".join(json.dumps({"step": i, "loss": 1.0 / i}) + "\n" for i in range(1, 6)) + '{"step": 6, "lo'
    )
    status = read_status(
        run, scheduler=Scheduler(runner=FakeSlurm(live={"60": "RUNNING"}), which=lambda n: n)
    )
    progress = ProgressReader().read(status)
    assert progress.unit == "steps" and progress.shards[0].done == 5  # a line cut by a kill is skipped
    assert "5/? steps" in render([RunView(status, progress=progress)])


def test_one_status_of_a_training_shows_its_rate_and_eta_from_the_ranks_step_records(tmp_path):
    """Rate and ETA come from the step records' own times (no second refresh needed); a resumed
    attempt starts its own clock."""
    from s1slurm.config.cluster import Profile
    from s1slurm.train.deepspeed import load_template
    from s1slurm.train.spec import TrainSpec

    run = RunDir.create(tmp_path, "train")
    [shard] = make_shards("train", 1)
    # 60 examples, 2 epochs, 2 ranks x 1 sequence per step: 60 optimizer steps planned
    spec = TrainSpec(
        model="m",
        data={"source": "d.jsonl", "fields": "s1k"},
        recipe={"global_batch_size": 2, "micro_batch_size": 1, "epochs": 2},
    )
    profile = Profile(executor="slurm", nodes=1, tasks_per_node=1, gpus_per_node=2)
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "train",
            "stage_ref": stage_ref("train"),
            "executor": "slurm",
            "profile_name": "ci",
            "profile": profile.model_dump(mode="json"),
            "command_line": [],
            "submissions": [],
            "spec": spec.model_dump(mode="json"),
            "deepspeed_template": load_template(spec.deepspeed),
            "tasks": [{"index": 0, "shard": shard.to_dict(), "shard_id": shard.id, "job_id": "61"}],
        },
    )
    out = run.outputs_dir / shard.id
    out.mkdir(parents=True)
    (out / "dataset_stats.json").write_text(json.dumps({"examples": 60}))
    earlier = [
        {"step": s, "loss": 1.0, "tokens_seen": 1000 * s, "time": 100.0 + s, "attempt": "61.0"}
        for s in (1, 2)
    ]
    # the current attempt: 2 steps every 10 s, 500 tokens per step
    current = [
        {"step": s, "loss": 0.5, "tokens_seen": 500 * s, "time": 1000.0 + 5 * (s - 50), "attempt": "61.1"}
        for s in range(50, 59)
    ]
    (out / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in earlier + current))
    scheduler = Scheduler(runner=FakeSlurm(live={"61": "RUNNING"}), which=lambda n: n)
    status = read_status(run, scheduler=scheduler)
    progress = ProgressReader().read(status)
    assert (progress.done, progress.total) == (58, 60)
    assert progress.rate == pytest.approx(0.2) and progress.rates["tokens/s"] == pytest.approx(100.0)
    assert progress.eta_s == pytest.approx(10.0)  # 2 steps left at 0.2 steps/s
    line = plain_line(RunView(status, progress=progress))
    assert "58/60 steps" in line and "12.0 steps/min, 100 tokens/s" in line and "eta 10s" in line
