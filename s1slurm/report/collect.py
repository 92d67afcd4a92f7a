"""Read evaluation run folders into compact columns, and list every gap in the data.

Records are parsed line by line into a few integer columns (strings are interned into codes), so
200,000 records cost a few tens of MB. Nothing here raises on bad data: malformed lines, duplicate
records, shards without a done marker and expected records that never arrived all end up in
:class:`Issues`, which every output lists at its top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard
from s1slurm.eval.records import EVALUATION_RECORDS, RECORDS_FILE, BudgetSetting
from s1slurm.report.parse import EXTRAS, parsed_files

LIST_CAP = 1000  # entries kept per issue list (the totals are always exact)


@dataclass
class RunInfo:
    """What one run folder says about itself (from its manifest)."""

    path: Path
    run: str
    version: str | None
    profile: Any
    spec: Any
    plan: dict[str, Any] | None
    shard_ids: list[str]

    @property
    def model(self) -> str | None:
        return (self.plan or {}).get("model")

    @property
    def engine(self) -> str | None:
        return (self.plan or {}).get("engine")

    @property
    def description(self) -> dict[str, Any]:
        """What ran (engine and version, dtype, tensor-parallel size, batch size, batch-invariant
        kernels), from the plan; runs made before it was recorded give what the spec says."""
        run = (self.plan or {}).get("run")
        if isinstance(run, dict):
            return dict(run)
        spec = self.spec if isinstance(self.spec, dict) else {}
        return {
            "engine": self.engine,
            "engine_version": None,
            "dtype": spec.get("dtype"),
            "tensor_parallel_size": spec.get("tensor_parallel_size"),
            "batch_size": spec.get("batch_size"),
            "batch_invariant": None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "run": self.run,
            "s1slurm_version": self.version,
            "model": self.model,
            "engine": self.engine,
            "run_description": self.description,
            "profile": self.profile,
            "spec": self.spec,
            "eval_plan": self.plan,
            "shards": self.shard_ids,
        }


@dataclass
class Issues:
    """Every gap found while merging; ``partial`` is true when any data is missing or doubtful."""

    shards_not_done: list[dict[str, str]] = field(default_factory=list)
    shards_without_records: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # per benchmark/setting/question
    missing_total: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    duplicates_total: int = 0
    malformed: list[dict[str, Any]] = field(default_factory=list)
    malformed_total: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(
            self.shards_not_done
            or self.shards_without_records
            or self.missing_total
            or self.duplicates_total
            or self.malformed_total
        )

    def missing_questions(self) -> list[dict[str, Any]]:
        """Missing records summed per benchmark and question (the compact listing)."""
        per: dict[tuple[str, str], dict[str, Any]] = {}
        for m in self.missing:
            entry = per.setdefault(
                (m["benchmark"], m["question_id"]),
                {
                    "benchmark": m["benchmark"],
                    "question_id": m["question_id"],
                    "missing_records": 0,
                    "settings": 0,
                    "absent": True,
                },
            )
            entry["missing_records"] += m["missing_samples"]
            entry["settings"] += 1
            entry["absent"] = entry["absent"] and m["present_samples"] == 0
        return list(per.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "partial": self.partial,
            "shards_not_done": self.shards_not_done,
            "shards_without_records": self.shards_without_records,
            "missing_records_total": self.missing_total,
            "missing_records": self.missing[:LIST_CAP],
            "missing_by_question": self.missing_questions()[:LIST_CAP],
            "duplicates_total": self.duplicates_total,
            "duplicates": self.duplicates,
            "malformed_total": self.malformed_total,
            "malformed": self.malformed,
            "warnings": self.warnings,
            "list_cap": LIST_CAP,
        }


class Codes:
    """Interns strings into consecutive integer codes."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __call__(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.values)
            self.values.append(value)
        return code

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Records:
    """All merged records as numpy columns (one row per kept record) plus the code tables."""

    benchmark: np.ndarray  # code into benchmarks.values
    setting: np.ndarray  # code into settings.values
    question: np.ndarray  # code into questions.values
    sample: np.ndarray
    correct: np.ndarray  # 1 correct, 0 wrong, -1 not graded
    thinking_tokens: np.ndarray
    forced: np.ndarray
    cut: np.ndarray  # 1 when thinking_end == "budget"
    extracted: np.ndarray  # code into answers.values, -1 for None
    benchmarks: Codes
    settings: Codes
    questions: Codes
    answers: Codes
    setting_info: dict[str, tuple[str, dict[str, Any]]]  # label -> (method, budget dict)
    gold: dict[tuple[int, int], str | None]  # (benchmark, question) -> gold answer
    models: set[str]
    engines: set[str]
    # (benchmark, setting) -> averages of what some methods record besides thinking: answer_tokens,
    # steps_used (step-conditional), tries and accepted (rejection sampling), for the paper comparison
    extras: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.benchmark.shape[0])


def open_runs(paths: Sequence[Path | str]) -> list[RunInfo]:
    """Read each run's manifest; ConfigError for a folder that is not an evaluation run."""
    if not paths:
        raise ConfigError("no run directory given", expected="one or more evaluation run folders")
    runs: list[RunInfo] = []
    seen: set[Path] = set()
    for p in paths:
        run = RunDir.open(p)
        if run.path in seen:
            raise ConfigError("run directory given twice", file=str(p))
        seen.add(run.path)
        manifest = run.read_manifest()
        if not isinstance(manifest, dict) or manifest.get("produces") != EVALUATION_RECORDS:
            stage = manifest.get("stage") if isinstance(manifest, dict) else None
            raise ConfigError(
                f"not an evaluation run (stage {stage!r})",
                file=str(run.manifest_path),
                expected="a run made by an eval job spec",
            )
        shard_ids = []
        for i, task in enumerate(manifest.get("tasks") or []):
            try:
                shard_ids.append(Shard.from_dict(task["shard"]).id)
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigError(
                    f"task {i} has no valid shard ({e})", file=str(run.manifest_path), field="tasks"
                ) from None
        plan = manifest.get("eval_plan")
        if plan is not None and not isinstance(plan, dict):
            raise ConfigError("eval_plan is not an object", file=str(run.manifest_path), field="eval_plan")
        runs.append(
            RunInfo(
                path=run.path,
                run=str(manifest.get("run") or run.name),
                version=manifest.get("s1slurm_version"),
                profile=manifest.get("profile"),
                spec=manifest.get("spec"),
                plan=plan,
                shard_ids=shard_ids,
            )
        )
    return runs


TOKEN_COUNTS = ("generated", "s1")
"""How thinking tokens are counted on the report's axis: the ids the engine generated, or s1's count
(the decoded thinking re-tokenized, step delimiters left out: ``extra.s1_thinking_tokens``, written
by the eval stage; records without it keep their generated count)."""


def read_records(
    runs: Sequence[RunInfo], issues: Issues, tokens: str = "generated", workers: int | None = None
) -> Records:
    """Merge every shard's records of every run, in the order given; the first copy of a key wins.

    ``tokens``: one of :data:`TOKEN_COUNTS`. Files are parsed (JSON, the record check) by
    :func:`s1slurm.report.parse.parse_records_file`, in two forked worker processes when there is
    enough to read and two CPUs (or ``workers``); the merge below then sees the same lines in the same
    order either way.
    """
    sums: dict[tuple[str, str], dict[str, list[float]]] = {}
    B, S, Q, A = Codes(), Codes(), Codes(), Codes()
    rows: list[tuple[int, ...]] = []  # one tuple a record: one append, one conversion at the end
    first_seen: dict[tuple[int, int, int, int], int] = {}  # key -> file number << 32 | line number
    files: list[Path] = []
    setting_info: dict[str, tuple[str, dict[str, Any]]] = {}
    gold: dict[tuple[int, int], str | None] = {}
    models: set[str] = set()
    engines: set[str] = set()
    warned: set[str] = set()
    for info in runs:
        run = RunDir(info.path)
        done = run.done_ids()
        planned = list(info.shard_ids)
        extra = sorted(p.name for p in run.outputs_dir.glob("*") if p.is_dir() and p.name not in planned)
        for shard_id in extra:
            issues.warnings.append(
                f"{info.run}: outputs/{shard_id} is not a shard of the manifest (its records are read anyway)"
            )
        for shard_id in planned + extra:
            path = run.outputs_dir / shard_id / RECORDS_FILE
            if shard_id in planned and shard_id not in done:
                issues.shards_not_done.append(
                    {
                        "run": info.run,
                        "shard": shard_id,
                        "records_file": "present" if path.is_file() else "absent",
                    }
                )
            if not path.is_file():
                if shard_id in done:
                    issues.shards_without_records.append({"run": info.run, "shard": shard_id})
                continue
            files.append(path)
    bget, sget, qget, aget = B.index.get, S.index.get, Q.index.get, A.index.get
    with parsed_files(files, workers, s1_count=tokens == "s1") as each_file:
        for number, (path, parsed) in enumerate(zip(files, each_file)):
            file_tag = number << 32
            for row in parsed:
                lineno = row[0]
                if len(row) == 2:
                    _malformed(issues, path, lineno, row[1])
                    continue
                (
                    _,
                    bench,
                    label,
                    method,
                    qid,
                    sample,
                    c,
                    thought,
                    forced,
                    cut,
                    ex,
                    gold_answer,
                    budget,
                    model,
                    engine,
                    extras,
                ) = row
                # the code tables' own dicts first: a method call per column costs a tenth of the merge
                b = bget(bench)
                if b is None:
                    b = B(bench)
                s = sget(label)
                if s is None:
                    s = S(label)
                q = qget(qid)
                if q is None:
                    q = Q(qid)
                key = (b, s, q, sample)
                first = first_seen.get(key)
                if first is not None:
                    issues.duplicates_total += 1
                    if len(issues.duplicates) < LIST_CAP:
                        issues.duplicates.append(
                            {
                                "benchmark": bench,
                                "setting": label,
                                "question_id": qid,
                                "sample_index": sample,
                                "at": f"{path}:{lineno}",
                                "first_at": f"{files[first >> 32]}:{first & 0xFFFFFFFF}",
                            }
                        )
                    continue
                first_seen[key] = file_tag | lineno
                known = setting_info.get(label)
                if known is None:
                    setting_info[label] = (method, budget)
                elif known[0] != method and label not in warned:
                    warned.add(label)
                    issues.warnings.append(
                        f"setting {label} has method {method!r} at {path}:{lineno} "
                        f"but {known[0]!r} before (first kept)"
                    )
                if (b, q) not in gold:
                    gold[(b, q)] = gold_answer
                a = -1 if ex is None else aget(ex)
                if a is None:
                    a = A(ex)
                rows.append((b, s, q, sample, c, thought, forced, cut, a))
                if extras is not None:
                    _add_extras(sums.setdefault((bench, label), {}), extras)
                if model is not None:
                    models.add(model)
                if engine is not None:
                    engines.add(engine)
    del first_seen
    table = np.array(rows, dtype=np.int64).reshape(-1, 9)
    del rows
    benchmark, setting, question, sample, correct, thinking, forced, cut, extracted = (
        np.ascontiguousarray(table[:, i]) for i in range(9)
    )
    del table
    _dedupe_warnings(issues)
    extras = {key: {name: v[0] / v[1] for name, v in per.items()} for key, per in sums.items()}
    return Records(
        benchmark,
        setting,
        question,
        sample,
        correct,
        thinking,
        forced,
        cut,
        extracted,
        benchmarks=B,
        settings=S,
        questions=Q,
        answers=A,
        setting_info=setting_info,
        gold=gold,
        models=models,
        engines=engines,
        extras=extras,
    )


def _add_extras(per: dict[str, list[float]], values: tuple[float | None, ...]) -> None:
    """Add one record's :data:`s1slurm.report.parse.EXTRAS` to running [sum, count]s."""
    for name, v in zip(EXTRAS, values):
        if v is not None:
            acc = per.setdefault(name, [0.0, 0])
            acc[0] += v
            acc[1] += 1


def _malformed(issues: Issues, path: Path, lineno: int, error: str) -> None:
    issues.malformed_total += 1
    if len(issues.malformed) < LIST_CAP:
        issues.malformed.append({"file": str(path), "line": lineno, "error": error})


def _dedupe_warnings(issues: Issues) -> None:
    seen: set[str] = set()
    kept = []
    for w in issues.warnings:
        if w not in seen:
            seen.add(w)
            kept.append(w)
    if len(kept) > LIST_CAP:
        kept = kept[:LIST_CAP] + [f"... and {len(kept) - LIST_CAP} more warnings"]
    issues.warnings = kept


def plan_settings(runs: Sequence[RunInfo]) -> dict[str, BudgetSetting]:
    """Budget settings named in the runs' plans, by label (first run wins), in plan order."""
    out: dict[str, BudgetSetting] = {}
    for info in runs:
        for d in (info.plan or {}).get("settings") or []:
            try:
                s = BudgetSetting.from_dict(d)
            except (TypeError, ValueError):
                continue
            out.setdefault(s.label, s)
    return out


def find_missing(runs: Sequence[RunInfo], rec: Records, issues: Issues) -> None:
    """Compare each run's plan (questions x settings x samples) with the merged records."""
    present: dict[tuple[int, int, int], set[int]] = {}
    for b, s, q, i in zip(
        rec.benchmark.tolist(), rec.setting.tolist(), rec.question.tolist(), rec.sample.tolist()
    ):
        present.setdefault((b, s, q), set()).add(i)
    expected: dict[tuple[str, str, str], set[int]] = {}
    for info in runs:
        plan = info.plan
        if not plan:
            issues.warnings.append(
                f"{info.run}: the manifest has no eval_plan, so records missing "
                "from this run cannot be detected"
            )
            continue
        try:
            samples = int(plan.get("samples", 1))
            labels = [BudgetSetting.from_dict(d).label for d in plan.get("settings") or []]
            benches = {
                str(name): [str(q) for q in b.get("question_ids") or []]
                for name, b in (plan.get("benchmarks") or {}).items()
            }
        except (TypeError, ValueError, AttributeError) as e:
            issues.warnings.append(f"{info.run}: eval_plan unreadable ({e}); missing records not checked")
            continue
        for bench, qids in benches.items():
            for label in labels:
                for q in qids:
                    expected.setdefault((bench, label, q), set()).update(range(samples))
    for (bench, label, q), want in expected.items():
        b, s, qc = rec.benchmarks.index.get(bench), rec.settings.index.get(label), rec.questions.index.get(q)
        have = present.get((b, s, qc), set()) if b is not None and s is not None and qc is not None else set()
        lacking = want - have
        if lacking:
            issues.missing_total += len(lacking)
            issues.missing.append(
                {
                    "benchmark": bench,
                    "setting": label,
                    "question_id": q,
                    "missing_samples": len(lacking),
                    "present_samples": len(want & have),
                    "sample_indices": sorted(lacking)[:20],
                }
            )
    issues.missing.sort(key=lambda m: (m["benchmark"], m["question_id"], m["setting"]))
    planned_pairs = {(bench, q) for (bench, _l, q) in expected}
    if expected:
        extra = {(rec.benchmarks.values[b], rec.questions.values[q]) for (b, _s, q) in present}
        unplanned = sorted(extra - planned_pairs)
        if unplanned:
            shown = ", ".join(f"{b}/{q}" for b, q in unplanned[:10])
            more = f" and {len(unplanned) - 10} more" if len(unplanned) > 10 else ""
            issues.warnings.append(
                f"{len(unplanned)} question(s) have records but are in no run's plan "
                f"(included in the metrics): {shown}{more}"
            )
