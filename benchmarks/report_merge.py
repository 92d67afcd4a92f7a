"""Time and memory of ``s1slurm report`` on a generated sweep (default: 30 questions x 64 samples x
104 settings = 199,680 records), written into a temporary run folder.

    python benchmarks/report_merge.py [--questions 30] [--samples 64] [--thinking-chars 1000] [--keep]

The report is built in a child process so that its peak resident memory (ru_maxrss) is its own;
the Python-heap peak is measured there too when ``--tracemalloc`` is given (slower). Prints the wall
and CPU seconds of each phase (read, metrics, browser, plots, render, write), the CPU of the
parsing workers, the load average, a workload check (every record merged, maj@k/pass@k curves up to
k = samples, intervals and paired tests computed) and whether the target (3 s, 200 MB) was met.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import make_shards
from s1slurm.eval.records import EVALUATION_RECORDS, RECORDS_FILE, BudgetSetting

TARGET_SECONDS = 3.0  # issue 20: the merge of 200k records with every metric, on the 2-core machine
TARGET_MB = 200


def sweep_settings() -> list[BudgetSetting]:
    """104 settings in three methods: 64 caps, 20 forced-continuation counts, 20 minimums."""
    caps = [BudgetSetting(max_thinking_tokens=128 * i) for i in range(1, 65)]
    ignores = [BudgetSetting(max_thinking_tokens=16384, num_ignore=i, method="ignore") for i in range(1, 21)]
    mins = [
        BudgetSetting(min_thinking_tokens=256 * i, max_thinking_tokens=16384, method="min")
        for i in range(1, 21)
    ]
    return caps + ignores + mins


def generate(root: Path, questions: int, samples: int, thinking_chars: int, shards: int) -> tuple[Path, int]:
    """Write a complete eval run folder; returns (path, records written)."""
    rng = random.Random(0)
    settings = sweep_settings()
    qids = [f"aime24-{i:03d}" for i in range(questions)]
    run = RunDir.create(root, "eval")
    shard_list = make_shards("aime24", shards)
    plan = {
        "benchmarks": {"aime24": {"question_ids": qids, "shards": shards}},
        "settings": [s.to_dict() for s in settings],
        "samples": samples,
        "model": "generated",
        "engine": "none",
    }
    manifest = {
        "stage": "eval",
        "run": run.name,
        "spec": {"stage": "eval"},
        "profile": {},
        "version": "bench",
        "tasks": [{"index": i, "shard": s.to_dict()} for i, s in enumerate(shard_list)],
        "produces": EVALUATION_RECORDS,
        "eval_plan": plan,
    }
    run.manifest_path.write_text(json.dumps(manifest))
    filler = ("Let me think about this step by step. " * (thinking_chars // 38 + 1))[:thinking_chars]
    n = 0
    for shard in shard_list:
        with open(run.shard_dir(shard) / RECORDS_FILE, "w") as fh:
            for q in shard.select(qids):
                difficulty = rng.random()
                for s in settings:
                    budget = s.max_thinking_tokens or 16384
                    want = max(s.min_thinking_tokens, 200 + 60 * s.num_ignore)
                    p = min(0.95, max(0.02, 1.2 - difficulty - 1.5 / math.log2(budget + 2)))
                    for i in range(samples):
                        natural = int(rng.lognormvariate(7.5, 0.6))
                        tokens = min(budget, max(want, natural))
                        ok = rng.random() < p
                        fh.write(
                            json.dumps(
                                {
                                    "run": run.name,
                                    "benchmark": "aime24",
                                    "question_id": q,
                                    "sample_index": i,
                                    "seed": i,
                                    "budget": s.to_dict(),
                                    "setting": s.label,
                                    "method": s.method,
                                    "thinking": filler,
                                    "answer": "The answer is \\boxed{42}.",
                                    "thinking_tokens": tokens,
                                    "answer_tokens": 12,
                                    "forced_continuations": s.num_ignore,
                                    "thinking_end": "budget"
                                    if tokens == budget and natural > budget
                                    else "natural",
                                    "extracted_answer": "42" if ok else str(rng.randint(0, 999)),
                                    "gold_answer": "42",
                                    "correct": ok,
                                    "engine": "none",
                                    "model": "generated",
                                    "wall_time_s": 1.0,
                                    "shard": shard.id,
                                    "grade_error": None,
                                    "extra": {},
                                }
                            )
                        )
                        fh.write("\n")
                        n += 1
        run.mark_done(shard)
    return run.path, n


def measure(run: str, out: str, use_tracemalloc: bool) -> None:
    """Child process: build the report and print its figures as one JSON line."""
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    from s1slurm.report import build_report

    start, cpu = time.perf_counter(), time.process_time()
    phases: dict[str, float] = {}
    result = build_report([run], out, timings=phases)
    elapsed = time.perf_counter() - start
    settings = result.settings
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parsing workers, ended by now
    figures = {
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "workers_cpu_seconds": round(workers.ru_utime + workers.ru_stime, 2),
        "workers_max_rss_mb": round(workers.ru_maxrss / 1024, 1),
        "phases": {k: round(v, 2) for k, v in phases.items()},
        "records": result.records,
        "partial": result.partial,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "files_kb": {p.name: round(p.stat().st_size / 1024) for p in result.files.values()},
        "settings": len(settings),
        "curve_points": sum(len(m.maj_at_k) + len(m.pass_at_k) for m in settings),
        "largest_k": max((m.ks[-1] for m in settings if m.ks), default=0),
        "methods_with_intervals": sum(m.performance_ci is not None for m in result.methods),
        "paired_tests": sum(len(m.neighbours) for m in result.methods),
    }
    if use_tracemalloc:
        figures["python_heap_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--thinking-chars", type=int, default=1000, help="length of each record's thinking")
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the Python heap (slower)")
    ap.add_argument("--keep", action="store_true", help="keep the generated run and report")
    ap.add_argument("--measure", nargs=2, metavar=("RUN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(*args.measure, args.tracemalloc)
        return
    root = Path(tempfile.mkdtemp(prefix="s1slurm-report-bench-"))
    try:
        t0 = time.perf_counter()
        run, n = generate(root, args.questions, args.samples, args.thinking_chars, args.shards)
        size = sum(p.stat().st_size for p in run.glob("outputs/*/" + RECORDS_FILE))
        print(
            f"generated {n:,} records ({size / 2**20:,.0f} MiB of JSON Lines, "
            f"{args.thinking_chars} thinking chars each) in {time.perf_counter() - t0:.1f} s: {run}"
        )
        cmd = [sys.executable, __file__, "--measure", str(run), str(root / "report")]
        if args.tracemalloc:
            cmd.append("--tracemalloc")
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        wall = time.perf_counter() - t0
        figures = json.loads(line)
        load_after = os.getloadavg()
        print(
            f"report: {figures['seconds']} s inside build_report, {figures['cpu_seconds']} s CPU "
            f"+ {figures['workers_cpu_seconds']} s CPU in the parsing workers ({wall:.1f} s with "
            f"interpreter start), peak RSS {figures['max_rss_mb']} MB (largest worker "
            f"{figures['workers_max_rss_mb']} MB)"
            + (
                f", Python heap peak {figures['python_heap_peak_mb']} MB"
                if "python_heap_peak_mb" in figures
                else ""
            )
        )
        print("phases (s): " + ", ".join(f"{k} {v}" for k, v in figures["phases"].items()))
        print(f"outputs (KiB): {figures['files_kb']}; partial: {figures['partial']}")
        print(
            f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} "
            f"({os.cpu_count()} CPUs): wall times above count other processes' load"
        )
        work = (
            figures["records"] == n
            and figures["largest_k"] == args.samples
            and figures["methods_with_intervals"] == 3
            and figures["paired_tests"] > 0
        )
        print(
            f"workload check: {figures['records']:,} of {n:,} records merged, "
            f"{figures['settings']} settings, "
            f"{figures['curve_points']:,} pass@k/maj@k points up to k = {figures['largest_k']}, "
            f"{figures['methods_with_intervals']} methods with intervals, {figures['paired_tests']} paired "
            "tests: " + ("OK" if work else "NOT EXERCISED")
        )
        ok = figures["seconds"] <= TARGET_SECONDS and figures["max_rss_mb"] <= TARGET_MB
        print(f"within budget (<= {TARGET_SECONDS:g} s, <= {TARGET_MB} MB): " + ("yes" if ok else "NO"))
        if args.keep:
            print(f"kept: {root}")
        if not ok or not work:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
