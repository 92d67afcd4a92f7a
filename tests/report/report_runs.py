"""Build evaluation run folders by hand, in the layout the eval stage writes, for report tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.eval.records import EVALUATION_RECORDS, RECORDS_FILE, BudgetSetting, EvalRecord


def record(
    bench: str,
    setting: BudgetSetting,
    qid: str,
    sample: int,
    correct: bool | None,
    tokens: int,
    *,
    end: str = "natural",
    forced: int = 0,
    extracted: str | None = "1",
    gold: str | None = "1",
    thinking: str = "thinking",
    answer: str = "answer",
    run: str = "run",
) -> str:
    """One JSON line of a shard's records file, made by the real EvalRecord class."""
    return EvalRecord(
        run=run,
        benchmark=bench,
        question_id=qid,
        sample_index=sample,
        seed=sample,
        budget=setting.to_dict(),
        setting=setting.label,
        method=setting.method,
        thinking=thinking,
        answer=answer,
        thinking_tokens=tokens,
        answer_tokens=5,
        forced_continuations=forced,
        thinking_end=end,
        extracted_answer=extracted,
        gold_answer=gold,
        correct=correct,
        engine="fake",
        model="tiny-model",
        wall_time_s=0.1,
    ).to_json()


def make_plan(
    benchmarks: dict[str, Sequence[str]], settings: Sequence[BudgetSetting], samples: int, shards: int = 1
) -> dict:
    return {
        "benchmarks": {b: {"question_ids": list(q), "shards": shards} for b, q in benchmarks.items()},
        "settings": [s.to_dict() for s in settings],
        "samples": samples,
        "model": "tiny-model",
        "engine": "fake",
    }


def write_run(
    root: Path,
    name: str,
    plan: dict,
    shard_lines: dict[Shard, Iterable[str]],
    done: Iterable[Shard] | None = None,
    stage: str = "eval",
) -> Path:
    """A run folder with a manifest, one records file per shard and done markers.

    ``done`` defaults to every shard in ``shard_lines``; shards of the plan without lines are
    listed in the manifest (tasks) but get no records file.
    """
    run = RunDir(Path(root) / name)
    for sub in (run.outputs_dir, run.done_dir, run.tasks_dir):
        sub.mkdir(parents=True, exist_ok=True)
    shards = [
        Shard(b, i, info["shards"]) for b, info in plan["benchmarks"].items() for i in range(info["shards"])
    ]
    manifest = {
        "stage": stage,
        "run": name,
        "spec": {"stage": stage, "model": "tiny-model"},
        "profile": {"name": "local"},
        "version": "0.1.0",
        "tasks": [{"index": i, "shard": s.to_dict()} for i, s in enumerate(shards)],
        "produces": EVALUATION_RECORDS if stage == "eval" else None,
        "eval_plan": plan,
    }
    run.manifest_path.write_text(json.dumps(manifest))
    for shard, lines in shard_lines.items():
        d = run.outputs_dir / shard.id
        d.mkdir(parents=True, exist_ok=True)
        (d / RECORDS_FILE).write_text("".join(line + "\n" for line in lines))
    for shard in shard_lines if done is None else done:
        run.mark_done(shard)
    return run.path
