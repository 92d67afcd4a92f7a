"""Pipelines without SLURM: spec checks, how each step's output becomes the next one's input, the
jobs a next step waits for, and a local three-step pipeline running its steps in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.rundir import RunDir
from s1slurm.launch.records import waiting_jobs
from s1slurm.pipeline.chain import child_spec
from s1slurm.pipeline.spec import PipelineSpec, StepConfig

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_a_report_step_must_follow_an_eval_step_and_names_are_unique():
    with pytest.raises(ValidationError, match="right after an eval step"):
        PipelineSpec(stage="pipeline", steps=[{"stage": "train", "config": "t.yaml"}, {"stage": "report"}])
    with pytest.raises(ValidationError, match="unique"):
        PipelineSpec(
            stage="pipeline", steps=[{"stage": "probe", "config": "a"}, {"stage": "probe", "config": "b"}]
        )
    with pytest.raises(ValidationError, match="needs 'config'"):
        StepConfig(stage="eval")


def test_train_output_becomes_the_eval_model_and_curate_output_the_train_data(tmp_path):
    (tmp_path / "eval.yaml").write_text("stage: eval\nmodel: placeholder\nbenchmarks: []\n")
    (tmp_path / "train.yaml").write_text("stage: train\ndata: {source: x.jsonl, fields: s1k}\n")
    train = StepConfig(stage="train", config=tmp_path / "train.yaml")
    ev = StepConfig(stage="eval", config=tmp_path / "eval.yaml")
    data = child_spec(ev, train, Path("/runs/p/outputs/train/model"), tmp_path / "out")
    assert data["model"] == "/runs/p/outputs/train/model" and data["runs_dir"] == str(tmp_path / "out")
    curate = StepConfig(stage="curate", config=tmp_path / "train.yaml")
    data = child_spec(train, curate, Path("/cur/select/select.jsonl"), tmp_path / "out")
    assert data["data"] == {"source": "/cur/select/select.jsonl", "fields": "s1k"}
    probe = StepConfig(stage="probe", config=tmp_path / "train.yaml")  # a probe hands over nothing
    assert child_spec(ev, probe, Path("/runs/probe-x"), tmp_path / "out")["model"] == "placeholder"


def test_the_next_step_waits_for_whole_arrays_or_for_the_elements_still_to_come(tmp_path):
    run = RunDir.create(tmp_path, "probe")
    tasks = [
        {"index": i, "shard_id": f"s{i}", "job_id": j}
        for i, j in enumerate(["5_0", "5_1", "6_0", "6_1", "9_0"])
    ]
    atomic_write_json(
        run.manifest_path,
        {
            "tasks": tasks,
            "submissions": [
                {"arrays": [{"job_id": "5", "size": 2}, {"job_id": "6", "size": 2}]},
                {"arrays": [{"job_id": "9", "size": 1}]},
            ],
        },
    )
    (run.done_dir / "s2.done").write_text("{}")
    assert waiting_jobs(run) == ["5", "6_1", "9"]


def test_a_local_pipeline_runs_its_steps_in_order_and_its_status_says_done(workdir):
    (workdir / "probe.yaml").write_text("stage: probe\ntasks: 2\n")
    (workdir / "pipe.yaml").write_text(
        "stage: pipeline\nsteps:\n"
        "  - {stage: probe, config: probe.yaml, name: first}\n"
        "  - {stage: probe, config: probe.yaml, name: second}\n"
        "  - {stage: probe, config: probe.yaml, name: third}\n"
    )
    proc = run_cli("--profile", "local", "submit", "pipeline", "--config", "pipe.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = (workdir / "runs").glob("pipeline-*")
    status = json.loads(run_cli("status", str(path), "--json", cwd=workdir).stdout)
    pipeline, *steps = status["runs"]
    assert [(s["name"], s["state"]) for s in pipeline["steps"]] == [
        ("first", "DONE"),
        ("second", "DONE"),
        ("third", "DONE"),
    ]
    assert [s["done"] for s in steps] == [2, 2, 2]
    # In order: every probe of a step started after every probe of the step before had ended.
    starts = [
        min(json.loads(p.read_text())["time"] for p in Path(s["path"]).glob("outputs/*/rank-000.json"))
        for s in steps
    ]
    ends = [
        max(json.loads(p.read_text())["time"] for p in Path(s["path"]).glob("tasks/*.json")) for s in steps
    ]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]


def test_a_pipeline_step_with_a_missing_spec_is_bad_input(workdir):
    (workdir / "pipe.yaml").write_text("stage: pipeline\nsteps:\n  - {stage: train, config: nosuch.yaml}\n")
    proc = run_cli("--profile", "local", "submit", "pipeline", "--config", "pipe.yaml", cwd=workdir)
    assert proc.returncode == 2 and "steps.0.config" in proc.stderr and "Traceback" not in proc.stderr


def test_a_curate_step_is_finished_when_the_whole_curation_is_and_hands_over_its_last_export(tmp_path):
    from s1slurm.curate.store import CurationDir
    from s1slurm.stages.curate import CurateStage

    stage = CurateStage()

    cur = CurationDir(tmp_path / "curation")
    run = RunDir.create(tmp_path / "runs", "curate")
    atomic_write_json(
        run.manifest_path,
        {
            "tasks": [{"index": 0, "shard_id": "collect-00000-of-00001", "job_id": "30"}],
            "submissions": [{"arrays": [{"job_id": "30", "size": 1}]}],
            "curate": {"out": str(cur.path), "step": "collect", "steps": ["collect", "select"]},
        },
    )
    assert not stage.is_complete(run) and stage.related_jobs(run) == ["30"]
    assert stage.unfinished(run) == "curation step 'collect' (see its runs in runs_dir)"
    (run.done_dir / "collect-00000-of-00001.done").write_text("{}")
    cur.mark_done("collect", {})
    # The curation submitted its next step in another run: the pipeline waits for that run's jobs.
    nxt = RunDir.create(tmp_path / "runs", "curate")
    atomic_write_json(
        nxt.manifest_path,
        {
            "tasks": [{"index": 0, "shard_id": "select-00000-of-00001", "job_id": "31"}],
            "submissions": [{"arrays": [{"job_id": "31", "size": 1}]}],
            "curate": {"out": str(cur.path), "step": "select", "steps": ["collect", "select"]},
        },
    )
    cur.step_dir("collect").mkdir(parents=True, exist_ok=True)
    (cur.step_dir("collect") / "next.json").write_text(json.dumps({"next": "select", "run": str(nxt.path)}))
    assert not stage.is_complete(run) and "'select'" in (stage.unfinished(run) or "")
    assert stage.related_jobs(run) == ["31"]
    cur.step_dir("select").mkdir(parents=True, exist_ok=True)
    cur.export_path("select").write_text('{"question": "q"}\n')
    cur.mark_done("select", {})
    assert stage.is_complete(run) and stage.output(run) == cur.export_path("select")


def test_the_shipped_s1_pipeline_spec_is_well_formed():
    import yaml

    spec = PipelineSpec.model_validate(yaml.safe_load((REPO / "jobs" / "pipeline-s1.yaml").read_text()))
    assert [s.stage for s in spec.steps] == ["curate", "train", "eval", "report"]
    for step in spec.steps[1:3]:
        assert (REPO / "jobs" / step.config).is_file()


def test_a_local_pipeline_whose_second_step_fails_blocks_the_third(workdir):
    (workdir / "probe.yaml").write_text("stage: probe\ntasks: 1\n")
    (workdir / "eval.yaml").write_text(
        "stage: eval\nmodel: ./no-such-model\nbenchmarks: [{name: math500, path: nosuch.jsonl}]\n"
    )
    (workdir / "pipe.yaml").write_text(
        "stage: pipeline\nsteps:\n"
        "  - {stage: probe, config: probe.yaml, name: first}\n"
        "  - {stage: eval, config: eval.yaml, name: second}\n"
        "  - {stage: probe, config: probe.yaml, name: third}\n"
    )
    proc = run_cli("--profile", "local", "submit", "pipeline", "--config", "pipe.yaml", cwd=workdir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [path] = (workdir / "runs").glob("pipeline-*")
    runs = json.loads(run_cli("status", str(path), "--json", cwd=workdir).stdout)["runs"]
    assert [(s["name"], s["state"]) for s in runs[0]["steps"]] == [
        ("first", "DONE"),
        ("second", "FAILED"),
        ("third", "BLOCKED"),
    ]
    assert "nosuch" in runs[0]["steps"][1]["why"] or "no-such-model" in runs[0]["steps"][1]["why"]
    assert len(runs) == 2  # the third step never made a run
    # The failure is named where the user looks: the step, its error's first line, the log with the rest.
    failure = runs[0]["failure"]
    assert failure["where"].startswith("step 'second'") and "ConfigError" in failure["first_line"]
    assert "\n" not in failure["first_line"] and failure["first_line"] in Path(failure["log"]).read_text()
    text = " ".join(run_cli("status", str(path), cwd=workdir).stdout.split())
    assert f"✗ {failure['where']} failed: {failure['first_line'][:40]}" in text


@pytest.mark.slow
def test_a_local_eval_then_report_pipeline_reports_the_eval_run_without_any_path_copied(workdir):
    from tests.conftest import SHARED_DATA

    (workdir / "eval.yaml").write_text(
        yaml_dump(
            {
                "stage": "eval",
                "model": "smollm2",
                "engine": "transformers",
                "benchmarks": [
                    {"name": "math500", "path": str(SHARED_DATA / "benchmarks" / "math500.jsonl"), "limit": 2}
                ],
                "sweep": {"max_thinking_tokens": [4, 8]},
                "delimiters": {"thinking_end": ["<|im_start|>"]},
                "max_answer_tokens": 4,
            }
        )
    )
    (workdir / "pipe.yaml").write_text(
        "stage: pipeline\nsteps:\n  - {stage: eval, config: eval.yaml}\n  - {stage: report}\n"
    )
    proc = run_cli("--profile", "local", "submit", "pipeline", "--config", "pipe.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = (workdir / "runs").glob("pipeline-*")
    pipeline, eval_run = json.loads(run_cli("status", str(path), "--json", cwd=workdir).stdout)["runs"]
    assert [s["state"] for s in pipeline["steps"]] == ["DONE", "DONE"]
    report_dir = path / "outputs" / "report-00000-of-00001"
    report = json.loads((report_dir / "report.json").read_text())
    assert (report_dir / "report.html").is_file() and eval_run["run"] in json.dumps(report)


def yaml_dump(data) -> str:
    import yaml

    return yaml.safe_dump(data)
