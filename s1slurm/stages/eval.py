"""The ``eval`` stage: benchmarks under budget forcing, one array task per (benchmark, shard).

Each task loads the model once, runs the budget ladder (or naive runs) over its questions in
batches, grades every answer, and appends one :class:`EvalRecord` per (question, sample,
setting) to ``outputs/<shard>/records.jsonl``, flushed and fsynced after each question. A rerun
(requeue, resubmission of a failed task) reads the file back and only does what is missing: no
duplicates, nothing lost. A line torn by a kill is closed with a newline and then skipped (and
counted) by every reader. The done marker comes last.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.core.atomic import atomic_write_text
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.jsonl import append_lines, read_lines
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard, make_shards
from s1slurm.eval.benchmarks import BenchmarkConfig, Question, load_benchmark, reads_hub
from s1slurm.eval.engines import derive_seed, get_engine
from s1slurm.eval.forcing import Forcing, Result
from s1slurm.eval.grading import grade
from s1slurm.eval.methods import Item, run_settings
from s1slurm.eval.records import EVALUATION_RECORDS, RECORDS_FILE, BudgetSetting, EvalRecord, record_problem
from s1slurm.eval.spec import EvalSpec, check_room, check_tokenizer, load_tokenizer
from s1slurm.launch.task_status import RunStatus
from s1slurm.models import hub
from s1slurm.models.hub import offline_reason
from s1slurm.models.resolve import is_hub_id
from s1slurm.stages.base import Stage, TaskContext
from s1slurm.stages.progress import FileCache, RunProgress, ShardProgress, count_lines


class RecordFile:
    """A shard's append-only JSON Lines file of records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: set[tuple[str, str, str, int]] = set()
        self.valid = 0
        self.malformed = 0

    def load(self) -> RecordFile:
        """Read what earlier runs wrote; close a torn last line first (never rewrite the file)."""
        for data in read_lines(self.path):
            try:
                if data is None or record_problem(data) is not None:  # the same rule the report applies
                    raise ValueError("not a usable record")
                record = EvalRecord.from_dict(data)
            except (ValueError, KeyError, TypeError):
                self.malformed += 1
                continue
            if record.key not in self.keys:
                self.keys.add(record.key)
                self.valid += 1
        return self

    def append(self, records: list[EvalRecord]) -> None:
        """Append records in one write, flushed and fsynced."""
        append_lines(self.path, [r.to_json() for r in records])
        self.keys.update(r.key for r in records)
        self.valid += len(records)


class EvalStage(Stage[EvalSpec]):
    """Budget-forcing evaluation as a job array over (benchmark, shard)."""

    name = "eval"
    spec_model = EvalSpec
    produces, consumes = EVALUATION_RECORDS, "model"  # a report reads the run's records
    # on_requeue_signal asks for a requeue (records resume per question): the job must allow one
    # (#SBATCH --requeue), or a cluster with JobRequeue=0 refuses it and the preempted task is lost
    requeueable = True

    def __init__(self) -> None:
        self._questions: dict[str, tuple[str, list[Question]]] = {}
        self._skipped: list[str] = []  # checks a dry run left out, and why (shown by plan_text)

    # -- before submission ---------------------------------------------------------------------

    def check(
        self, spec: EvalSpec, profile: Profile, spec_path: Path, *, force: bool = False, dry_run: bool = False
    ) -> None:
        labels = [b.effective_label for b in spec.benchmarks]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise ConfigError(
                    f"two benchmarks are named {label!r}",
                    file=str(spec_path),
                    field=f"benchmarks.{i}.label",
                    expected="a unique label per benchmark",
                )
        if isinstance(spec.shards, dict):
            unknown = sorted(set(spec.shards) - set(labels))
            if unknown:
                raise ConfigError(
                    f"shards given for unknown benchmarks {unknown}",
                    file=str(spec_path),
                    field="shards",
                    expected=f"labels among {labels}",
                )
        # A dry run on a machine without internet skips what needs the hub (a real submission
        # never does): the plan and the scripts do not depend on it.
        offline = _offline_reason() if dry_run else None
        hub_model = is_hub_id(spec.model)
        tokenizer = None
        if offline and hub_model:
            self._skipped.append(f"tokenizer and delimiter checks of {spec.model} ({offline})")
        else:
            tokenizer = load_tokenizer(spec, spec_path)
        if tokenizer is not None:
            check_tokenizer(spec, tokenizer, spec_path)
        questions = {}
        for i, b in enumerate(spec.benchmarks):
            if offline and reads_hub(b):
                self._skipped.append(f"loading benchmark {b.effective_label!r} from the hub ({offline})")
                continue
            try:
                questions[b.effective_label] = self._load(spec, b, spec_path)
            except ConfigError as e:  # the loader names the benchmark's own field: say which benchmark
                if e.file != str(spec_path) or not e.field or e.field.startswith("benchmarks."):
                    raise
                raise ConfigError(
                    e.detail, file=e.file, field=f"benchmarks.{i}.{e.field}", expected=e.expected
                ) from None
            if not questions[b.effective_label]:
                raise ConfigError(
                    f"benchmark {b.effective_label!r} has no questions",
                    file=str(spec_path),
                    field=f"benchmarks.{i}",
                    expected="at least one question",
                )
        if tokenizer is not None:
            check_room(spec, tokenizer, questions, spec_path)
        if profile.executor == "slurm" and profile.weights_cache and hub_model:
            # compute nodes often have no internet: the weights come along, as for training

            folder = hub.snapshot_folder(profile.weights_cache, spec.model)
            if dry_run:
                self._skipped.append(f"downloading {spec.model} into {folder} (a real submission does)")
            else:
                try:
                    spec.model = str(hub.download_weights(spec.model, profile.weights_cache))
                except ConfigError as e:
                    raise (e.in_file(str(spec_path)) if e.file is None else e) from None
        self.resources(spec, profile)

    def plan_text(self, spec: EvalSpec, profile: Profile, width: int | None = None) -> str | None:
        """What a dry run skipped (offline), so that nobody mistakes it for a full check."""
        if not self._skipped:
            return None
        return "\n".join(
            ["# checks skipped by this dry run (a real submission runs them):"]
            + [f"#   {line}" for line in self._skipped]
        )

    def resources(self, spec: EvalSpec, profile: Profile) -> Profile:
        """One single-process task per ``tensor_parallel_size`` GPUs: several tasks share a node
        (``exclusive`` is dropped), its CPUs and memory shared out in proportion. Fields the spec
        sets under ``cluster:`` are kept; CPU-only profiles are kept."""
        fixed = set(spec.cluster)
        updates: dict[str, Any] = {}
        for key in ("nodes", "tasks_per_node"):
            if getattr(profile, key) != 1:
                if key in fixed:
                    raise ConfigError(
                        f"eval tasks run as one process on one node, got {key} {getattr(profile, key)}",
                        field=f"cluster.{key}",
                        expected="1",
                    )
                updates[key] = 1
        gpus = profile.gpus_per_node
        tp = spec.tensor_parallel_size
        if gpus and "gpus_per_node" not in fixed:
            if tp > gpus:
                raise ConfigError(
                    f"tensor_parallel_size {tp} needs more GPUs than a node of this profile has ({gpus})",
                    field="tensor_parallel_size",
                    expected=f"at most {gpus}",
                )
            updates["gpus_per_node"] = tp
            if profile.cpus_per_task and "cpus_per_task" not in fixed:
                updates["cpus_per_task"] = max(1, profile.cpus_per_task * tp // gpus)
            if profile.mem_gb and "mem_gb" not in fixed:
                updates["mem_gb"] = round(profile.mem_gb * tp / gpus, 1)
            if tp < gpus and profile.extra_sbatch.get("exclusive") and "extra_sbatch" not in fixed:
                # tasks smaller than a node share it
                updates["extra_sbatch"] = {k: v for k, v in profile.extra_sbatch.items() if k != "exclusive"}
        if profile.executor == "slurm" and "env" not in fixed and not is_hub_id(spec.model):
            # the model is a folder and the questions are frozen in the run: the tasks need no hub
            # (set here so that a node without internet fails fast instead of waiting on timeouts)
            offline = {k: "1" for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if k not in profile.env}
            if offline:
                updates["env"] = {**profile.env, **offline}
        return profile.merged(updates, source="eval resources") if updates else profile

    def plan(self, spec: EvalSpec) -> list[Shard]:
        shards: list[Shard] = []
        for b in spec.benchmarks:
            shards += make_shards(b.effective_label, spec.shards_for(b.effective_label))
        return shards

    def manifest_extra(self, spec: EvalSpec) -> dict:
        """The frozen plan: which questions each benchmark has (tasks evaluate exactly these, and
        the report finds missing records with it), the settings, samples, model and engine."""
        benchmarks = {}
        for b in spec.benchmarks:
            label = b.effective_label
            benchmarks[label] = {
                "question_ids": [q.id for q in self._load(spec, b, "<spec>")],
                "shards": spec.shards_for(label),
                "kind": b.effective_kind,
            }
        return {
            "eval_plan": {
                "benchmarks": benchmarks,
                "settings": [s.to_dict() for s in spec.settings()],
                "samples": spec.samples,
                "model": spec.model,
                "engine": spec.engine,
                "run": spec.run_description(),
            }
        }

    def prepare_run(self, spec: EvalSpec, run: RunDir) -> None:
        """Freeze every benchmark's questions into the run folder: the tasks read them there, so a
        compute node without internet never asks the hub, and every task sees the same questions."""
        for b in spec.benchmarks:
            lines = [
                json.dumps(asdict(q), ensure_ascii=False, default=str) for q in self._load(spec, b, "<spec>")
            ]
            atomic_write_text(questions_path(run, b.effective_label), "".join(line + "\n" for line in lines))

    def take_input(self, data: dict[str, Any], previous_output: str) -> dict[str, Any]:
        """The step before (a training) hands over the model to evaluate: ``model``."""
        return {**data, "model": previous_output}

    def progress(self, status: RunStatus, files: FileCache) -> RunProgress:
        """Records written / planned, from the manifest's frozen evaluation plan."""
        totals = files.memo.get(status.run.path)
        if totals is None:
            totals = files.memo[status.run.path] = planned_records(status.manifest)
        shards = {}
        for t in status.tasks:
            total = totals.get(t.shard_id)
            if t.done:
                shards[t.index] = ShardProgress(total or 0, total)
                continue
            n = files.read(status.run.outputs_dir / t.shard_id / RECORDS_FILE, count_lines) or 0
            shards[t.index] = ShardProgress(min(n, total) if total is not None else n, total)
        return RunProgress("records", shards)

    def _load(self, spec: EvalSpec, cfg: BenchmarkConfig, source: Path | str) -> list[Question]:
        key = cfg.model_dump_json()
        cached = self._questions.get(cfg.effective_label)
        if cached is None or cached[0] != f"{key}|{spec.seed}":
            qs = load_benchmark(cfg, spec.seed, source=str(source))
            self._questions[cfg.effective_label] = (f"{key}|{spec.seed}", qs)
        return self._questions[cfg.effective_label][1]

    def on_requeue_signal(self, ctx: TaskContext[EvalSpec]) -> bool:
        return True  # records are appended per question: a requeued task resumes where it stopped

    # -- one task ------------------------------------------------------------------------------

    def run(self, ctx: TaskContext[EvalSpec]) -> None:
        if not ctx.dist.is_main:
            return
        spec = ctx.spec
        label = ctx.shard.group
        cfg = next((b for b in spec.benchmarks if b.effective_label == label), None)
        if cfg is None:
            raise StageError(f"shard {ctx.shard.id}: no benchmark labelled {label!r} in the spec")
        questions = self._frozen_questions(ctx, spec, cfg)
        records = RecordFile(ctx.run.shard_dir(ctx.shard) / RECORDS_FILE).load()
        started = time.time()
        written = run_shard(ctx, spec, label, ctx.shard.select(questions), records)
        ctx.run.mark_done(
            ctx.shard,
            {
                "records": records.valid,
                "written": written,
                "malformed_lines": records.malformed,
                "questions": len(ctx.shard.select(questions)),
                "settings": len(spec.settings()),
                "samples": spec.samples,
                "elapsed_s": round(time.time() - started, 3),
            },
        )

    def _frozen_questions(
        self, ctx: TaskContext[EvalSpec], spec: EvalSpec, cfg: BenchmarkConfig
    ) -> list[Question]:
        """The benchmark's questions in the order frozen in the manifest at submission: from the
        run folder (written at submission), or, for a run made before that, loaded again."""
        frozen = questions_path(ctx.run, cfg.effective_label)
        if frozen.is_file():
            questions = [Question(**row) for row in read_lines(frozen) if isinstance(row, dict)]
        else:
            questions = load_benchmark(cfg, spec.seed, source=str(ctx.run.manifest_path))
        try:
            plan = ctx.run.read_manifest().get("eval_plan") or {}
        except ConfigError:
            plan = {}
        ids = (plan.get("benchmarks") or {}).get(cfg.effective_label, {}).get("question_ids")
        if ids is None:
            return questions
        by_id = {q.id: q for q in questions}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise StageError(
                f"benchmark {cfg.effective_label!r} changed since submission: {len(missing)} "
                f"of its {len(ids)} question ids are gone (first: {missing[0]!r})"
            )
        return [by_id[i] for i in ids]


def planned_records(manifest: dict) -> dict[str, int]:
    """shard id -> records planned, from the manifest's frozen evaluation plan."""
    plan = manifest.get("eval_plan") or {}
    per_question = len(plan.get("settings") or [1]) * int(plan.get("samples") or 1)
    out = {}
    for label, bench in (plan.get("benchmarks") or {}).items():
        ids = bench.get("question_ids") or []
        count = int(bench.get("shards") or 1)
        for i in range(count):
            shard = Shard(label, i, count)
            out[shard.id] = len(shard.select(ids)) * per_question
    return out


def questions_path(run: RunDir, label: str) -> Path:
    """Where a run keeps the questions of benchmark ``label`` frozen at submission."""
    return run.path / "questions" / f"{label}.jsonl"


def sample_seed(spec: EvalSpec, label: str, question_id: str, index: int) -> int:
    """The seed of one sample (recorded; every request of the sample derives its own from it)."""
    return derive_seed(spec.seed, label, question_id, index)


def run_shard(
    ctx: TaskContext[EvalSpec], spec: EvalSpec, label: str, questions: list[Question], records: RecordFile
) -> int:
    """Evaluate what ``records`` lacks for ``questions``; returns the number of records written."""
    settings = spec.settings()
    todo: Todo = []
    for q in questions:
        for i in range(spec.samples):
            missing = tuple(s for s in settings if (label, s.label, q.id, i) not in records.keys)
            if missing:
                todo.append((q, i, missing))
    total = len(questions) * spec.samples * len(settings)
    ctx.logger.info(
        "shard %s: %d questions x %d samples x %d settings; %d records already written, %d to do",
        ctx.shard.id,
        len(questions),
        spec.samples,
        len(settings),
        total - sum(len(m) for _, _, m in todo),
        sum(len(m) for _, _, m in todo),
    )
    if not todo:
        return 0
    engine = get_engine(spec.engine_config(spec.resolved_model()))
    forcing = Forcing(
        engine.tokenizer,
        eos_ids=engine.eos_token_ids,
        max_model_len=engine.max_model_len,
        delimiters=spec.delimiters.text(),
        max_answer_tokens=spec.answer_tokens(),
        temperature=spec.temperature,
        top_p=spec.top_p,
    )
    order = list(dict.fromkeys(q.id for q, _, _ in todo))
    batch = spec.effective_batch_size()
    written, done_questions = 0, 0
    for start in range(0, len(order), batch):
        chunk_ids = set(order[start : start + batch])
        chunk = [item for item in todo if item[0].id in chunk_ids]
        results = _evaluate(engine, forcing, spec, label, chunk)
        for qid in order[start : start + batch]:
            items = [(q, i, missing) for q, i, missing in chunk if q.id == qid]
            new = [
                _record(ctx, spec, label, q, i, results[(q.id, i)][s.label])
                for q, i, missing in items
                for s in missing
            ]
            records.append(new)
            written += len(new)
            done_questions += 1
            correct = sum(bool(r.correct) for r in new)
            ctx.logger.info(
                "%s %d/%d question %s: %d records, %d correct, thinking %d-%d tokens, %.1fs",
                ctx.shard.id,
                done_questions,
                len(order),
                qid,
                len(new),
                correct,
                min(r.thinking_tokens for r in new),
                max(r.thinking_tokens for r in new),
                sum(r.wall_time_s for r in new),
            )
    return written


Todo = list[tuple[Question, int, tuple[BudgetSetting, ...]]]  # (question, sample index, missing settings)


def _evaluate(
    engine: Any, forcing: Forcing, spec: EvalSpec, label: str, chunk: Todo
) -> dict[tuple[str, int], dict[str, Result]]:
    """Results by (question id, sample index) and setting label, batched over the chunk; samples
    that miss the same settings (normally all of them) run together."""
    groups: dict[tuple[str, ...], Todo] = {}
    for item in chunk:
        groups.setdefault(tuple(s.label for s in item[2]), []).append(item)
    out: dict[tuple[str, int], dict[str, Result]] = {}
    for items in groups.values():
        batch = [
            Item(key=(q.id, i), question=q.prompt, seed=sample_seed(spec, label, q.id, i))
            for q, i, _ in items
        ]
        results = run_settings(
            engine,
            forcing,
            batch,
            list(items[0][2]),
            system_prompt=spec.system_prompt,
            prompts=spec.prompts,
            ladder=spec.ladder,
        )
        for (q, i, _), per_setting in zip(items, results):  # results come in the batch's order
            out[(q.id, i)] = per_setting
    return out


def _record(
    ctx: TaskContext[EvalSpec], spec: EvalSpec, label: str, q: Question, index: int, r: Result
) -> EvalRecord:
    g = grade(q, r.answer_text)
    return EvalRecord(
        run=ctx.run.name,
        benchmark=label,
        question_id=q.id,
        sample_index=index,
        seed=sample_seed(spec, label, q.id, index),
        budget=r.setting.to_dict(),
        setting=r.setting.label,
        method=r.setting.method,
        thinking=r.thinking_text,
        answer=r.answer_text,
        thinking_tokens=len(r.thinking.ids),
        answer_tokens=len(r.answer_ids),
        forced_continuations=r.thinking.forced,
        thinking_end=r.thinking.end or "budget",
        extracted_answer=g.extracted,
        gold_answer=q.gold,
        correct=g.correct,
        engine=spec.engine,
        model=spec.model,
        wall_time_s=round(r.wall_time_s, 4),
        shard=ctx.shard.id,
        grade_error=g.error,
        extraction_method=g.method,
        extra={
            "rounds": r.thinking.rounds,
            "thinking_cap": r.cap,
            "think_time_s": round(r.think_time_s, 4),
            "answer_time_s": round(r.answer_time_s, 4),
            **r.extra,
        },
    )


def _offline_reason() -> str | None:
    """Why the hub cannot be reached from here (None when it can); one definition, in models.hub."""

    return offline_reason()
