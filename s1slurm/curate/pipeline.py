"""Running the steps on a curation folder: single-task CPU steps, model-step shards, and the merge
that turns a model step's shard records into its dataset. The stage (``stages/curate.py``) calls
these; ``s1slurm decontaminate`` calls :func:`decontaminate_rows` directly."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_json, atomic_write_text
from s1slurm.core.errors import ConfigError, StageError
from s1slurm.core.shard import Shard, make_shards
from s1slurm.curate import attempts, domains, traces
from s1slurm.curate.decontaminate import Decontaminated, decontaminate, load_benchmarks
from s1slurm.curate.models import load
from s1slurm.curate.reports import (
    contamination_markdown,
    contamination_report,
    contamination_table,
    selection_markdown,
    selection_report,
    selection_table,
    table_text,
    write_report,
)
from s1slurm.curate.select import run_select
from s1slurm.curate.sources import collect
from s1slurm.curate.spec import STEPS, CurateSpec, DecontaminateConfig
from s1slurm.curate.store import CurationDir, RecordLog, load_rows, save_rows, write_jsonl
from s1slurm.models.resolve import resolve_model

log = logging.getLogger("s1slurm.curate")


def input_step(cur: CurationDir, step: str) -> str:
    """The step whose dataset ``step`` reads: the latest finished one before it in pipeline order."""
    before = [s for s in STEPS[: STEPS.index(step)] if cur.is_done(s)]
    if not before:
        raise StageError(f"step {step!r} has no input: no earlier step is finished in {cur.path}")
    return before[-1]


def _finish(
    cur: CurationDir,
    step: str,
    rows: list[dict[str, Any]],
    rejects: list[dict[str, Any]],
    rows_in: int,
    started: float,
    **extra: Any,
) -> dict[str, Any]:
    """Save the step's dataset, export and rejects, then its marker (last)."""
    save_rows(cur, step, rows)
    write_jsonl(cur.rejects_path(step), rejects)
    info = {
        "in": rows_in,
        "out": len(rows),
        "reasons": dict(Counter(r["reason"] for r in rejects)),
        "elapsed_s": round(time.time() - started, 3),
        **extra,
    }
    cur.mark_done(step, info)
    return info


def run_collect(cur: CurationDir, spec: CurateSpec, spec_file: str) -> dict[str, Any]:
    started = time.time()
    got = collect(spec.sources, spec_file, settings=spec.collect)
    rows_in = sum(c["read"] for c in got.per_source.values())
    return _finish(cur, "collect", got.rows, got.rejects, rows_in, started, per_source=got.per_source)


def decontaminate_rows(
    rows: list[dict[str, Any]], cfg: DecontaminateConfig, *, source: str, step: str = "decontaminate"
) -> Decontaminated:
    benchmarks = load_benchmarks(cfg.against, with_answer=cfg.with_answer, source=source)
    return decontaminate(rows, cfg, benchmarks, step=step)


def run_decontaminate(cur: CurationDir, spec: CurateSpec, spec_file: str) -> dict[str, Any]:
    started = time.time()
    rows = load_rows(cur, input_step(cur, "decontaminate"))
    dec = decontaminate_rows(rows, spec.decontaminate, source=spec_file)
    report = contamination_report(
        dec,
        len(rows),
        ngram=spec.decontaminate.ngram,
        with_answer=spec.decontaminate.with_answer,
        dataset=str(cur.path),
    )
    write_report(cur.step_dir("decontaminate"), "contamination", report, contamination_markdown(report))
    atomic_write_text(
        cur.report_path("decontaminate", "contamination.txt"), table_text(contamination_table(report))
    )
    return _finish(
        cur,
        "decontaminate",
        dec.rows,
        dec.rejects,
        len(rows),
        started,
        benchmarks=report["benchmarks"],
        near_duplicates_removed=report["near_duplicates"]["removed"],
    )


def token_counter(tokenizer_name: str) -> Callable[[list[str]], list[int]]:
    """Trace lengths in the target model's tokens (s1: data/tokenization.py, Qwen2.5-32B-Instruct)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer_name))

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    return count


def run_select_step(
    cur: CurationDir, spec: CurateSpec, count_tokens: Callable[[list[str]], list[int]] | None = None
) -> dict[str, Any]:
    started = time.time()
    rows = load_rows(cur, input_step(cur, "select"))
    sel = run_select(rows, spec.select, count_tokens or token_counter(spec.select.tokenizer))
    steps = []
    for s in STEPS[: STEPS.index("select")]:
        if cur.is_done(s):
            marker = json.loads(cur.step_marker(s).read_text())
            steps.append(
                {
                    "step": s,
                    "in": marker.get("in"),
                    "out": marker.get("out"),
                    "reasons": marker.get("reasons", {}),
                }
            )
    report = selection_report(
        steps, sel.funnel, sel.candidates, sel.chosen, spec.select.strategy, spec.select.seed, spec.select.n
    )
    write_report(cur.step_dir("select"), "selection", report, selection_markdown(report))
    atomic_write_text(cur.report_path("select", "selection.txt"), table_text(selection_table(report)))
    return _finish(
        cur,
        "select",
        sel.rows,
        sel.rejects,
        len(rows),
        started,
        strategy=spec.select.strategy,
        seed=spec.select.seed,
    )


# ----------------------------------------------------------------------------- model steps


def model_shards(spec: CurateSpec, step: str) -> list[Shard]:
    return make_shards(step, spec.shards_for(step))


def run_model_shard(
    cur: CurationDir, spec: CurateSpec, step: str, shard: Shard, logger: logging.Logger = log
) -> dict[str, Any]:
    """Do what ``shard``'s record log lacks, batch by batch (each batch appended and fsynced), then
    write the shard's marker."""

    if cur.shard_done(step, shard).is_file():
        return json.loads(cur.shard_done(step, shard).read_text())
    started = time.time()
    rows = shard.select(load_rows(cur, input_step(cur, step)))
    records = RecordLog(cur.shard_records(step, shard)).load()
    cfg = spec.model_step(step)
    batch = cfg.effective_batch_size()
    before = len(records.records)

    def batches(todo: list[dict[str, Any]]):
        for i in range(0, len(todo), batch):
            yield todo[i : i + batch]

    if step == "traces":
        todo = [r for r in rows if r["id"] not in records.records]
        if todo:
            engine = load(cfg, spec.traces.model)  # type: ignore[arg-type]
            for chunk in batches(todo):
                records.append(traces.trace_records(engine, spec.traces, chunk))
                logger.info("%s: %d/%d questions traced", shard.id, len(records.records), len(rows))
    elif step == "attempts":
        for model in spec.attempts.models:
            todo = [r for r in rows if attempts.key(model, r["id"]) not in records.records]
            if todo:
                engine = load(cfg, model)
                for chunk in batches(todo):
                    records.append(attempts.attempt_records(engine, spec.attempts, model, chunk))
                    logger.info("%s: %s answered %d more questions", shard.id, model, len(chunk))
        if spec.attempts.judge:
            by_id = {r["id"]: r for r in rows}
            todo_recs = [
                r
                for r in records.records.values()
                if not r["key"].startswith("judge::") and "judge::" + r["key"] not in records.records
            ]
            if todo_recs:
                engine = load(cfg, spec.attempts.judge)
                for i in range(0, len(todo_recs), batch):
                    records.append(
                        attempts.judge_records(engine, spec.attempts, todo_recs[i : i + batch], by_id)
                    )
    else:
        todo = [r for r in rows if r["id"] not in records.records]
        if todo:
            engine = None
            if domains.needs_model(spec.domains, todo):
                if not spec.domains.model:
                    raise ConfigError(
                        f"{sum(not r.get('domain') for r in todo)} rows have no domain of their own "
                        "and no classifier is set",
                        field="domains.model",
                        expected="a model",
                    )
                engine = load(cfg, spec.domains.model)
            for chunk in batches(todo):
                records.append(domains.domain_records(engine, spec.domains, chunk))
                logger.info("%s: %d/%d questions classified", shard.id, len(records.records), len(rows))
    info = {
        "shard": shard.id,
        "questions": len(rows),
        "records": len(records.records),
        "written": len(records.records) - before,
        "torn_lines": records.torn,
        "elapsed_s": round(time.time() - started, 3),
    }
    atomic_write_json(cur.shard_done(step, shard), info)
    return info


def merge_model_step(cur: CurationDir, spec: CurateSpec, step: str) -> dict[str, Any] | None:
    """When every shard of ``step`` is done (and the step is not), merge the shard records into
    the step's dataset and mark it done; returns the marker info, or None when shards are missing.
    Call it under ``cur.lock(step)``."""
    if cur.is_done(step):
        return json.loads(cur.step_marker(step).read_text())
    shards = model_shards(spec, step)
    if not all(cur.shard_done(step, s).is_file() for s in shards):
        return None
    started = time.time()
    rows = load_rows(cur, input_step(cur, step))
    by_key: dict[str, dict[str, Any]] = {}
    for s in shards:
        by_key.update(RecordLog(cur.shard_records(step, s)).load().records)
    merged = []
    for row in rows:
        if step == "traces":
            merged.append(traces.merge(row, by_key[row["id"]]))
        elif step == "domains":
            merged.append(domains.merge(row, by_key[row["id"]]))
        else:
            recs = [
                by_key[k]
                for m in spec.attempts.models
                for k in (attempts.key(m, row["id"]), "judge::" + attempts.key(m, row["id"]))
                if k in by_key
            ]
            merged.append(attempts.merge(row, recs))
    extra: dict[str, Any] = {"shards": len(shards)}
    if step == "traces":
        extra["flags"] = dict(Counter(r["trace_flag"] for r in merged if r["trace_flag"]))
    elif step == "attempts":
        extra["solved"] = sum(bool(r["solved_by"]) for r in merged)
    else:
        extra["domains"] = dict(Counter(r["domain"] for r in merged).most_common())
    return _finish(cur, step, merged, [], len(rows), started, **extra)


def run_field_traces(cur: CurationDir, spec: CurateSpec) -> dict[str, Any]:
    """Step ``traces`` with ``from_fields``: the rows' own traces, in one CPU task."""
    started = time.time()
    rows = load_rows(cur, input_step(cur, "traces"))
    fields = spec.traces.from_fields
    assert fields is not None
    for role, key in fields.keys().items():
        if rows and not any(key in r for r in rows):  # a typo would flag every row: say so instead
            raise ConfigError(
                f"no row has the key {key!r}; the rows have: {', '.join(sorted(rows[0]))}",
                field=f"traces.from_fields.{role}",
                expected="a key of the collected rows",
            )
    merged = [traces.merge(row, rec) for row, rec in zip(rows, traces.field_records(spec.traces, rows))]
    flags = dict(Counter(r["trace_flag"] for r in merged if r["trace_flag"]))
    return _finish(cur, "traces", merged, [], len(rows), started, flags=flags, from_fields=True)


def run_cpu_step(cur: CurationDir, spec: CurateSpec, step: str, spec_file: str | Path) -> dict[str, Any]:
    if step == "traces":
        return run_field_traces(cur, spec)
    if step == "collect":
        return run_collect(cur, spec, str(spec_file))
    if step == "decontaminate":
        return run_decontaminate(cur, spec, str(spec_file))
    return run_select_step(cur, spec)
