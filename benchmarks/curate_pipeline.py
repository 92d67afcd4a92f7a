"""Curation speed: collect + n-gram decontamination + exact dedup of a 59,000-question pool, MinHash
near-dedup of it, and selection of 1,000 from 25,000 candidates.

The pool is built from the shared pools (OlympiadBench, college maths: 3,493 questions) repeated with a
varied suffix per copy, written to a JSON Lines file and read back by the collect step. The targets are
the 530 questions of ../shared/data/benchmarks (AIME24, MATH500) plus synthetic GPQA-like items, 728 in
all. The baseline is s1's own decontamination, rewritten here from its description (simplescaling/s1,
data/decontaminate_util.py: a dict of joined n-gram strings -> document ids for the pool and for the
benchmarks, then every benchmark n-gram looked up in the pool's), run on the same pool.

End to end, as a user runs them: ``s1slurm decontaminate POOL --against ... --out DIR`` as a process
(start-up, reading the files, writing clean.jsonl, rejects and the report) against s1's lookup as a
process on the same files (reading the pool, the lookups, writing the clean rows), timed both with
the imports s1's data/decontaminate_util.py makes (datasets, tqdm) and with plain Python.

    python benchmarks/curate_pipeline.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POOL_SIZE = 59_000
TARGETS = 728


def build_pool(data: Path, out: Path) -> int:
    rows = []
    for name, q in (("olympiadbench.jsonl", "question"), ("college_math.jsonl", "question")):
        rows += [
            json.loads(line)[q] for line in (data / "pool" / name).read_text().splitlines() if line.strip()
        ]
    suffixes = [
        "",
        " Give the exact value.",
        " Show your work.",
        " Answer in simplest form.",
        " Justify each step.",
        " (Hint: start small.)",
        " Express the result as a fraction.",
        " Round to two decimals.",
    ]
    with open(out, "w") as f:
        for i in range(POOL_SIZE):
            k = i // len(rows)
            text = (
                rows[i % len(rows)]
                + suffixes[k % len(suffixes)]
                + (f" Variant {k}." if k >= len(suffixes) else "")
            )
            f.write(json.dumps({"id": i, "question": text, "answer": "1"}) + "\n")
    return POOL_SIZE


def gpqa_like(tmp: Path, n: int) -> Path:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    path = tmp / "gpqa_like.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "Record ID": f"g{i}",
                        "Question": " ".join(rng.choices(words, k=60)),
                        "Correct Answer": "a",
                        "Incorrect Answer 1": "b",
                        "Incorrect Answer 2": "c",
                        "Incorrect Answer 3": "d",
                    }
                )
                + "\n"
            )
    return path


def s1_style(pool: list[str], tests: list[str], n: int = 8) -> int:
    """s1's algorithm as described: joined-string n-gram lookups of both sides, then their overlap."""

    def lookup(docs):
        table = collections.defaultdict(set)
        for i, doc in enumerate(docs):
            words = " ".join(doc.lower().strip().split()).split()
            for j in range(len(words) - n + 1):
                table[" ".join(words[j : j + n])].add(i)
        return table

    train, test = lookup(pool), lookup(tests)
    hit = set()
    for gram in test:
        if gram in train:
            hit.update(train[gram])
    return len(hit)


S1_PROCESS = """
import collections, json, sys
if sys.argv[1] == "imports":
    import datasets, tqdm  # what s1's data/decontaminate_util.py imports
pool_path, out_path, n = sys.argv[2], sys.argv[3], 8
rows = [json.loads(line) for line in open(pool_path) if line.strip()]
tests = []
for path, field in zip(sys.argv[4::2], sys.argv[5::2]):
    tests += [json.loads(line)[field] for line in open(path) if line.strip()]
def lookup(docs):
    table = collections.defaultdict(set)
    for i, doc in enumerate(docs):
        words = " ".join(doc.lower().strip().split()).split()
        for j in range(len(words) - n + 1):
            table[" ".join(words[j:j + n])].add(i)
    return table
train, test = lookup([r["question"] for r in rows]), lookup(tests)
hit = set()
for gram in test:
    if gram in train:
        hit.update(train[gram])
with open(out_path, "w") as f:
    for i, r in enumerate(rows):
        if i not in hit:
            f.write(json.dumps(r) + "\\n")
print(len(hit))
"""


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    """Best wall time of ``repeat`` runs of a process, and its output."""
    best, out = float("inf"), ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
        best, out = min(best, time.perf_counter() - t0), proc.stdout
    return best, out


def processes(data: Path, tmp: Path, gpqa: Path, repeat: int) -> None:
    """The decontaminate command against s1's lookup, each as a whole process on the same files."""
    repo = Path(__file__).resolve().parents[1]
    aime, math500 = data / "benchmarks" / "aime24.jsonl", data / "benchmarks" / "math500.jsonl"
    cli = [
        sys.executable,
        "-m",
        "s1slurm",
        "decontaminate",
        str(tmp / "pool.jsonl"),
        "--against",
        str(aime),
        str(math500),
        f"gpqa_diamond={gpqa}",
        "--out",
        str(tmp / "cli-out"),
    ]
    import shutil

    best = float("inf")
    for _ in range(
        repeat
    ):  # a fresh folder each time: the command refuses nothing, but compare like for like
        shutil.rmtree(tmp / "cli-out", ignore_errors=True)
        t, _ = timed(cli, repo, 1)
        best = min(best, t)
    with open(tmp / "cli-out" / "clean.jsonl") as f:
        clean = sum(1 for _ in f)
    script = tmp / "s1_lookup.py"
    script.write_text(S1_PROCESS)
    args = [
        str(tmp / "pool.jsonl"),
        str(tmp / "s1-clean.jsonl"),
        str(aime),
        "problem",
        str(math500),
        "problem",
        str(gpqa),
        "Question",
    ]
    s1_imports, hits = timed([sys.executable, str(script), "imports", *args], repo, repeat)
    s1_plain, _ = timed([sys.executable, str(script), "plain", *args], repo, repeat)
    print(
        f"decontaminate command (process)      {best:6.2f} s   {POOL_SIZE - clean} removed "
        f"(best of {repeat}; start-up, read, match, write clean/rejects/report)"
    )
    print(
        f"s1 lookup process, s1's imports     {s1_imports:6.2f} s   {hits.strip()} removed (datasets, tqdm)"
    )
    print(f"s1 lookup process, plain Python     {s1_plain:6.2f} s")


def main() -> None:
    from s1slurm.curate.decontaminate import build_index, load_benchmarks
    from s1slurm.curate.neardup import near_duplicates
    from s1slurm.curate.select import Candidate, choose
    from s1slurm.curate.sources import collect
    from s1slurm.curate.spec import SelectConfig, SourceConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3, help="process timings: best of this many runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_pool(args.data, tmp / "pool.jsonl")
        against = [
            {"name": "aime24", "path": str(args.data / "benchmarks" / "aime24.jsonl")},
            {"name": "math500", "path": str(args.data / "benchmarks" / "math500.jsonl")},
            {"name": "gpqa_diamond", "path": str(gpqa_like(tmp, TARGETS - 530))},
        ]
        from s1slurm.eval.benchmarks import BenchmarkConfig

        benchmarks = load_benchmarks(
            [BenchmarkConfig(**a) for a in against], with_answer=False, source="bench"
        )

        t0 = time.perf_counter()
        got = collect(
            [SourceConfig(name="pool", path=tmp / "pool.jsonl", fields={"id": "id", "answer": "answer"})],
            "bench",
            dedup=False,
        )
        t1 = time.perf_counter()
        index = build_index(benchmarks, 8)
        contaminated = [r for r in got.rows if index.match(r["question"]) is not None]
        t2 = time.perf_counter()
        from s1slurm.curate.ngrams import normalize

        seen, dups = set(), 0
        for r in got.rows:
            key = normalize(r["question"])
            dups += key in seen
            seen.add(key)
        t3 = time.perf_counter()
        tests = [b.texts[q.id] for b in benchmarks for q in b.questions]
        s1_hits = s1_style([r["question"] for r in got.rows], tests)
        t4 = time.perf_counter()
        print(
            f"pool {len(got.rows):,} questions, {sum(len(b.questions) for b in benchmarks)} benchmark items"
        )
        print(f"collect (read + map)        {t1 - t0:6.2f} s")
        print(f"decontamination (8-grams)   {t2 - t1:6.2f} s   {len(contaminated)} contaminated")
        print(f"exact dedup                 {t3 - t2:6.2f} s   {dups} duplicates")
        print(f"collect + decontam + dedup  {t3 - t0:6.2f} s   (target < 5 s)")
        print(f"s1-style n-gram lookup      {t4 - t3:6.2f} s   {s1_hits} contaminated (same pool)")

        processes(args.data, tmp, tmp / "gpqa_like.jsonl", args.repeat)

        t5 = time.perf_counter()
        nd = near_duplicates([r["id"] for r in got.rows], [r["question"] for r in got.rows])
        t6 = time.perf_counter()
        rows = got.rows
        print(
            f"MinHash near-dedup          {t6 - t5:6.2f} s   {len(nd.duplicate_of):,} near-duplicates "
            f"in {len(nd.clusters):,} clusters (target < 20 s)"
        )

    rng = random.Random(1)
    domains = [f"{c:02d}" for c in range(50)]
    cands = [
        Candidate(f"c{i:05d}", rng.choice(domains), "pool", rng.randrange(200, 30000)) for i in range(25_000)
    ]
    t7 = time.perf_counter()
    chosen = choose(cands, SelectConfig(n=1000, seed=0))
    t8 = time.perf_counter()
    print(
        f"selection 1,000 of 25,000   {t8 - t7:6.2f} s   {len(chosen)} chosen, "
        f"{len({c.domain for c in chosen})} domains (target < 5 s)"
    )
    # each timed step must have had something to find, or its time says nothing
    work = (
        len(rows) >= 59_000
        and contaminated
        and s1_hits == len(contaminated)
        and dups > 0
        and nd.duplicate_of
        and len(chosen) == 1000
    )
    print(
        f"workload check: {len(rows):,} questions, {len(contaminated)} contaminated (s1's lookup "
        f"{s1_hits}), {dups} exact and {len(nd.duplicate_of):,} near duplicates, {len(chosen)} chosen: "
        + ("OK" if work else "NOT EXERCISED")
    )


if __name__ == "__main__":
    main()
