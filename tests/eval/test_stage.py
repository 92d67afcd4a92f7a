"""The eval stage: bad specs stop before submission, resources, the frozen plan, resumable records."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from s1slurm.config.cluster import Profile, load_cluster
from s1slurm.core.atomic import atomic_write_json
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.eval.records import EvalRecord
from s1slurm.eval.spec import EvalSpec
from s1slurm.launch.task import ShardTask
from s1slurm.models.smollm2 import smollm2_folder
from s1slurm.stages import get_stage
from s1slurm.stages.eval import EvalStage, RecordFile
from s1slurm.stages.submission import resolve
from tests.conftest import REPO, SHARED_DATA

MATH500 = SHARED_DATA / "benchmarks" / "math500.jsonl"
AIME24 = SHARED_DATA / "benchmarks" / "aime24.jsonl"


def base_spec(**changes) -> dict:
    spec = {
        "stage": "eval",
        "model": "smollm2",
        "engine": "transformers",
        "profile": "local",
        "benchmarks": [{"name": "math500", "path": str(MATH500), "limit": 3}],
        "sweep": {"max_thinking_tokens": [4, 8]},
        "delimiters": {"thinking_end": ["<|im_start|>"]},
        "max_answer_tokens": 4,
    }
    spec.update(changes)
    return spec


def resolve_spec(tmp_path: Path, spec: dict):
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(spec))
    cluster = REPO / "cluster.yaml"
    return resolve(get_stage("eval"), path, load_cluster(cluster), cluster, None)


def config_error(tmp_path: Path, spec: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve_spec(tmp_path, spec)
    assert info.value.exit_code == 2
    return info.value


# ------------------------------------------------------------------ bad input, before submission


class TestBadInput:
    def test_unknown_benchmark(self, tmp_path):
        e = config_error(tmp_path, base_spec(benchmarks=[{"name": "aime25"}]))
        assert "eval.yaml" in str(e) and e.field == "benchmarks.0.name" and "aime24" in str(e)

    def test_missing_field_in_a_jsonl_record(self, tmp_path):
        data = tmp_path / "mine.jsonl"
        data.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?"}\n')
        e = config_error(tmp_path, base_spec(benchmarks=[{"name": "jsonl", "path": str(data)}]))
        assert "mine.jsonl" in str(e) and "line 2" in str(e) and e.field == "answer"

    def test_model_folder_without_a_tokenizer(self, tmp_path):
        folder = tmp_path / "model"
        folder.mkdir()
        shutil.copy(smollm2_folder() / "config.json", folder / "config.json")
        e = config_error(tmp_path, base_spec(model=str(folder)))
        assert e.field == "model" and "tokenizer" in str(e) and "eval.yaml" in str(e)

    def test_model_folder_that_does_not_exist(self, tmp_path):
        e = config_error(tmp_path, base_spec(model=str(tmp_path / "nowhere")))
        assert e.field == "model" and "not found" in str(e)

    @pytest.mark.parametrize(
        "sweep, field",
        [
            ({"max_thinking_tokens": [64, -1]}, "sweep.max_thinking_tokens"),
            ({"num_ignore": [-2]}, "sweep.num_ignore"),
            ({"min_thinking_tokens": -1}, "sweep.min_thinking_tokens"),
        ],
    )
    def test_a_budget_below_zero(self, tmp_path, sweep, field):
        e = config_error(tmp_path, base_spec(sweep=sweep))
        assert e.field == field and "eval.yaml" in str(e)

    def test_a_minimum_above_a_maximum(self, tmp_path):
        e = config_error(tmp_path, base_spec(sweep={"max_thinking_tokens": [8], "min_thinking_tokens": 16}))
        assert e.field == "sweep" and "must not exceed" in str(e)

    def test_a_delimiter_the_tokenizer_cannot_encode(self, tmp_path):
        e = config_error(
            tmp_path, base_spec(delimiters={"thinking_end": ["<|im_start|>", "<|end_of_thought|>"]})
        )
        assert e.field == "delimiters.thinking_end[1]" and "<|end_of_thought|>" in str(e)
        assert "eval.yaml" in str(e) and "expected" in str(e)

    def test_a_budget_that_does_not_fit_the_context(self, tmp_path):
        e = config_error(tmp_path, base_spec(max_model_len=512, sweep={"max_thinking_tokens": [64, 1000]}))
        assert e.field == "sweep.max_thinking_tokens" and "context holds 512" in str(e)

    def test_unknown_key_and_bad_engine(self, tmp_path):
        e = config_error(tmp_path, base_spec(engine="tgi"))
        assert e.field == "engine"
        e = config_error(tmp_path, base_spec(temprature=0.5))
        assert "unknown key" in str(e) and "temperature" in str(e)

    def test_the_cli_exits_with_code_2_and_submits_nothing(self, tmp_path):
        (tmp_path / "eval.yaml").write_text(
            yaml.safe_dump(base_spec(sweep={"max_thinking_tokens": [-5]}, runs_dir=str(tmp_path / "runs")))
        )
        shutil.copy(REPO / "cluster.yaml", tmp_path / "cluster.yaml")
        proc = subprocess.run(
            [sys.executable, "-m", "s1slurm", "submit", "eval", "--config", "eval.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr
        assert "sweep.max_thinking_tokens" in proc.stdout + proc.stderr
        assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ plan, manifest, resources


def test_plan_and_manifest_freeze_the_questions_of_each_shard(tmp_path):
    spec = base_spec(
        benchmarks=[
            {"name": "math500", "path": str(MATH500), "limit": 5},
            {"name": "aime24", "path": str(AIME24), "limit": 3},
        ],
        shards={"math500": 2},
        sweep={"max_thinking_tokens": [4, 8], "num_ignore": [1]},
    )
    resolved = resolve_spec(tmp_path, spec)
    assert [t.shard.id for t in resolved.tasks] == [
        "math500-00000-of-00002",
        "math500-00001-of-00002",
        "aime24-00000-of-00001",
    ]
    plan = resolved.stage.manifest_extra(resolved.spec)["eval_plan"]
    assert (
        plan["benchmarks"]["math500"]["shards"] == 2
        and len(plan["benchmarks"]["math500"]["question_ids"]) == 5
    )
    assert plan["benchmarks"]["aime24"]["question_ids"] == ["60", "61", "62"]
    assert [s["max_thinking_tokens"] for s in plan["settings"]] == [4, 8, 8]
    assert [s["num_ignore"] for s in plan["settings"]] == [0, 0, 1]
    assert (plan["samples"], plan["model"], plan["engine"]) == (1, "smollm2", "transformers")
    # what ran: engine and version, dtype, tensor-parallel size, batch size, determinism
    run = plan["run"]
    assert run["engine"] == "transformers" and run["engine_version"].startswith("transformers ")
    assert (run["dtype"], run["tensor_parallel_size"], run["batch_size"], run["batch_invariant"]) == (
        "auto",
        1,
        4,
        True,
    )


class TestResources:
    h100 = Profile(
        executor="slurm",
        gpus_per_node=8,
        cpus_per_task=64,
        mem_gb=800,
        nodes=1,
        extra_sbatch={"exclusive": True},
    )

    def spec(self, **kw):
        return EvalSpec.model_validate(base_spec(engine="vllm", **kw))

    def test_one_task_per_gpu_for_a_small_model(self):
        p = EvalStage().resources(self.spec(), self.h100)
        assert (p.gpus_per_node, p.cpus_per_task, p.mem_gb, p.nodes, p.tasks_per_node) == (1, 8, 100, 1, 1)
        assert "exclusive" not in p.extra_sbatch

    def test_tensor_parallel_8_takes_a_node(self):
        p = EvalStage().resources(self.spec(tensor_parallel_size=8), self.h100)
        assert (p.gpus_per_node, p.cpus_per_task, p.mem_gb) == (8, 64, 800) and p.extra_sbatch["exclusive"]

    def test_more_gpus_than_a_node_has(self):
        with pytest.raises(ConfigError, match="tensor_parallel_size 16"):
            EvalStage().resources(self.spec(tensor_parallel_size=16), self.h100)

    def test_cpu_profiles_and_explicit_overrides_are_kept(self):
        local = Profile(executor="local")
        assert EvalStage().resources(self.spec(), local) == local
        spec = self.spec(cluster={"gpus_per_node": 4})
        assert EvalStage().resources(spec, self.h100.merged({"gpus_per_node": 4})).gpus_per_node == 4

    def test_the_shipped_specs(self):
        from s1slurm.config.loading import load_model

        big = load_model(REPO / "jobs" / "eval-s1-32b.yaml", EvalSpec)
        assert (big.model, big.engine, big.tensor_parallel_size) == ("simplescaling/s1-32B", "vllm", 8)
        assert {b.name for b in big.benchmarks} == {"aime24", "math500", "gpqa_diamond"}
        labels = [s.label for s in big.settings()]
        # the paper's budgets (s1 eval/commands.sh: forcing1k..forcing16k, forcingauto, forcingignoreNwait)
        assert labels[:7] == [
            "max=500",
            "max=1000",
            "max=2000",
            "max=4000",
            "max=8000",
            "max=16000",
            "max=none",
        ]
        assert labels[7:] == [f"ignore={n},max=none" for n in (1, 2, 4, 6)]
        assert (big.dtype, big.batch_invariant, big.max_model_len, big.max_answer_tokens) == (
            "float32",
            True,
            32768,
            "auto",
        )
        cheap = load_model(REPO / "jobs" / "eval-s1-32b-bf16.yaml", EvalSpec)
        assert (cheap.dtype, cheap.batch_invariant) == ("bfloat16", False)
        assert "NOT THE PAPER'S SETTING" in (REPO / "jobs" / "eval-s1-32b-bf16.yaml").read_text()
        assert [s.label for s in cheap.settings()] == labels
        cluster = load_cluster(REPO / "cluster.yaml")
        p = EvalStage().resources(big, cluster.profile("h100").merged(big.cluster))
        assert p.gpus_per_node == 8 and p.nodes == 1
        smoke = load_model(REPO / "jobs" / "eval-smoke.yaml", EvalSpec)
        assert smoke.model == "smollm2" and smoke.profile == "local"
        assert [s.max_thinking_tokens for s in smoke.settings() if s.method == "max"] == [
            32,
            64,
            128,
            256,
            512,
        ]


# ------------------------------------------------------------------ the records file


def test_record_file_closes_a_torn_line_and_counts_it(tmp_path):
    path = tmp_path / "records.jsonl"
    rec = EvalRecord(
        run="r",
        benchmark="b",
        question_id="q",
        sample_index=0,
        seed=1,
        budget={},
        setting="max=8",
        method="max",
        thinking="t",
        answer="a",
        thinking_tokens=1,
        answer_tokens=1,
        forced_continuations=0,
        thinking_end="natural",
        extracted_answer=None,
        gold_answer="1",
        correct=False,
        engine="transformers",
        model="m",
        wall_time_s=0.1,
    )
    path.write_text(rec.to_json() + "\n" + rec.to_json()[:40])
    before = path.read_bytes()
    f = RecordFile(path).load()
    assert (f.valid, f.malformed, f.keys) == (1, 1, {rec.key})
    assert path.read_bytes() == before + b"\n"  # appended to, never rewritten
    f.append([EvalRecord.from_dict({**json.loads(rec.to_json()), "setting": "max=16"})])
    again = RecordFile(path).load()
    assert (again.valid, again.malformed) == (2, 1)
    assert path.read_bytes().startswith(before)


# ------------------------------------------------------------------ resume after a killed task


@pytest.mark.slow
def test_resume_after_a_killed_task_gives_complete_records_without_duplicates(tmp_path):
    spec = EvalSpec.model_validate(
        base_spec(
            benchmarks=[{"name": "math500", "path": str(MATH500), "limit": 4}],
            sweep={"max_thinking_tokens": [4, 8], "num_ignore": [1]},
            batch_size=1,
            runs_dir=str(tmp_path),
        )
    )
    stage = EvalStage()
    run = RunDir.create(tmp_path, "eval")
    atomic_write_json(
        run.manifest_path,
        {
            "spec": spec.model_dump(mode="json"),
            "profile": Profile(executor="local").model_dump(mode="json"),
            **stage.manifest_extra(spec),
        },
    )
    (shard,) = stage.plan(spec)
    records = run.shard_dir(shard) / "records.jsonl"
    task = (
        "from s1slurm.launch.task import ShardTask; from s1slurm.stages.eval import EvalStage; "
        f"ShardTask(EvalStage.ref(), {str(run.path)!r}, {shard.to_dict()!r}, 0)()"
    )
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", task], cwd=REPO, stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.time() + 600
        while not (records.is_file() and records.read_bytes().count(b"\n") >= 3):
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.time() < deadline, "the task wrote no records in time"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    written = records.read_bytes()
    assert written.count(b"\n") < 12 and not run.is_done(shard)  # killed part-way
    with open(records, "ab") as f:  # as if the kill had come in the middle of a write
        f.write(written.splitlines(keepends=True)[0][:25])

    ShardTask(stage.ref(), str(run.path), shard.to_dict(), 0)()

    lines = records.read_bytes().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(EvalRecord.from_dict(json.loads(line)))
        except ValueError:
            parsed.append(None)
    assert sum(p is None for p in parsed) == 1
    keys = [p.key for p in parsed if p is not None]
    ids = json.loads(run.manifest_path.read_text())["eval_plan"]["benchmarks"]["math500"]["question_ids"]
    expected = {("math500", s, q, 0) for q in ids for s in ("max=4", "max=8", "ignore=1,max=8")}
    assert len(keys) == len(set(keys)) == 12 and set(keys) == expected
    assert records.read_bytes().startswith(written)  # what the killed task wrote is kept as it was
    done = json.loads(run.done_marker(shard).read_text())
    assert (done["records"], done["malformed_lines"], done["written"]) == (12, 1, 12 - written.count(b"\n"))
    for p in parsed:
        if p is not None:
            assert p.run == run.name and p.engine == "transformers" and p.shard == shard.id
            assert p.thinking_tokens <= p.budget["max_thinking_tokens"]
            assert p.thinking_end in ("natural", "budget") and p.gold_answer


# ------------------------------------------------------------------ nodes without internet


def test_questions_are_frozen_in_the_run_so_tasks_never_reload_the_benchmark(tmp_path):
    import shutil as _shutil
    from types import SimpleNamespace

    from s1slurm.stages.eval import questions_path
    from s1slurm.stages.submission import create_run

    data = tmp_path / "math500.jsonl"
    _shutil.copy(MATH500, data)
    resolved = resolve_spec(
        tmp_path,
        base_spec(
            benchmarks=[{"name": "math500", "path": str(data), "limit": 3}], runs_dir=str(tmp_path / "runs")
        ),
    )
    run, manifest = create_run(resolved, ["test"])
    frozen = questions_path(run, "math500")
    assert frozen.is_file() and frozen.read_text().count("\n") == 3
    data.unlink()  # as on a node that cannot reach where the benchmark came from
    stage, cfg = EvalStage(), resolved.spec.benchmarks[0]
    questions = stage._frozen_questions(SimpleNamespace(run=run), resolved.spec, cfg)
    assert [q.id for q in questions] == manifest["eval_plan"]["benchmarks"]["math500"]["question_ids"]
    assert questions[0].gold and questions[0].prompt


def test_slurm_eval_tasks_run_offline_when_the_model_is_a_folder(tmp_path):
    from s1slurm.config.cluster import Profile
    from s1slurm.eval.spec import EvalSpec

    slurm = Profile(executor="slurm", gpus_per_node=8, env={"HF_HOME": "/scratch/me/hf"})
    local = EvalSpec.model_validate(base_spec(model=str(tmp_path)))
    env = EvalStage().resources(local, slurm).env
    assert env == {"HF_HOME": "/scratch/me/hf", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    hub = EvalSpec.model_validate(
        base_spec(model="org/model", engine="vllm")
    )  # no weights_cache: the job downloads
    assert "HF_HUB_OFFLINE" not in EvalStage().resources(hub, slurm).env
