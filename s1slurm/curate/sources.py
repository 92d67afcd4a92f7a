"""Step ``collect``: every source, through its filters and field map, into one schema; duplicates out.

The schema of a collected row: ``id`` (``<source>/<source id or row number>``), ``question``,
``solution``, ``answer``, ``source`` (the entry's name), ``source_type`` and ``cot_type`` (s1K's
columns), ``domain`` (the source's own label, or None) and ``metadata`` (a JSON object as text, as
s1K's ``metadata`` column is text). s1 gathered its 59K the same way, one loader per source with its
own column names, filters and selection (data/collect_data.py, ``load_*`` and ``DS_TO_SELECTION``).

Per source, in the spec's order: read every config and split; rows that cannot be used (question
missing or not text, a duplicate id, an unknown ``cot_type`` value) go to the rejects with their
reason; rows failing ``where``/``where_any`` are counted (``filtered``); with ``collect.ngram`` a
question sharing a word n-gram with a question kept from an earlier source is rejected
(``ngram_overlap``, as s1 decontaminated each source against those collected before it); then
``take`` keeps its share (the rest counted as ``not_taken``); last, an exact duplicate of a kept
question (lower-cased, white space collapsed, as s1's ``normalize_string``) is rejected as
``exact_duplicate`` with the id of the row kept: the first source wins.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from s1slurm.core.dataload import BadLine, load_table
from s1slurm.core.errors import ConfigError
from s1slurm.curate.ngrams import Item, NgramIndex, normalize
from s1slurm.curate.source_spec import (
    CollectConfig,
    ColumnMap,
    DatasetColumn,
    RowRule,
    SourceConfig,
    Take,
    template_names,
)


@dataclass
class Collected:
    """The rows kept, the rows rejected (with ``reason``) and counts per source."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """Where a record came from: the config and split it was read from (templates can use them)."""

    hub_config: str | None
    split: str


def _load(name: str, where: str, spec_file: str, what: str, **kw: Any) -> tuple[list[Any], list[str]]:
    try:
        table = load_table(name, field=where, file=spec_file, **kw)
    except ConfigError as e:
        if e.file != spec_file:  # the data file itself is at fault
            raise
        raise ConfigError(f"{what}: {e.detail}", file=spec_file, field=e.field, expected=e.expected) from None
    return table.records, table.columns


def read_parts(cfg: SourceConfig, index: int, spec_file: str) -> tuple[list[tuple[Any, Part]], list[str]]:
    """(record, part) pairs of every config and split of a source, and the union of their columns. A
    missing or unreadable file is a ConfigError naming the spec and the field; local JSON Lines are read
    line by line so that one bad line becomes a reject (``invalid_json``) rather than a lost file."""
    where = f"sources.{index}"
    name, fld = (
        (str(cfg.path), f"{where}.path") if cfg.path is not None else (str(cfg.hub_id), f"{where}.hub_id")
    )
    out: list[tuple[Any, Part]] = []
    columns: dict[str, None] = {}
    for config, split in cfg.parts():
        records, cols = _load(
            name,
            fld,
            spec_file,
            f"source {cfg.name!r}",
            config=config,
            split=split,
            limit=cfg.limit,
            bad_lines="keep",
            local_field=f"{where}.path",
        )
        part = Part(config, split)
        out += [(r, part) for r in records]
        columns.update(dict.fromkeys(cols))
    return out, list(columns)


def read_source(cfg: SourceConfig, index: int, spec_file: str) -> tuple[list[Any], list[str]]:
    """(records, column names) of a source, every config and split together."""
    pairs, columns = read_parts(cfg, index, spec_file)
    return [r for r, _ in pairs], columns


def check_columns(cfg: SourceConfig, index: int, columns: list[str], spec_file: str) -> None:
    """A spec field naming a column the source does not have is a ConfigError listing its columns."""
    for key, column in cfg.columns_used().items():
        if column not in columns:
            raise ConfigError(
                f"source {cfg.name!r} has no column {column!r}; its columns are: "
                f"{', '.join(columns) or '(none)'}",
                file=spec_file,
                field=f"sources.{index}.{key}",
                expected="an existing column",
            )


def _text(value: Any) -> str | None:
    """Solutions and answers as text: lists joined (OlympiadBench keeps them as lists)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None]
        return "\n".join(parts) if parts else None
    return str(value)


def _value(rec: dict[str, Any], column: str, part: Part) -> Any:
    if column in rec:
        return rec[column]
    return {"hub_config": part.hub_config, "split": part.split}.get(column)


def _fill(template: str, rec: dict[str, Any], part: Part, question: str | None = None) -> str:
    values = {n: _text(_value(rec, n, part)) or "" for n in template_names(template) if n != "question"}
    if question is not None:
        values["question"] = question
    return template.format_map(values)


class Rules:
    """A source's ``where``/``where_any`` rules, with the value sets of other datasets loaded once."""

    def __init__(
        self, cfg: SourceConfig, index: int, spec_file: str, cache: dict[tuple[Any, ...], frozenset[Any]]
    ) -> None:
        self.cfg = cfg
        self.sets: dict[int, frozenset[Any]] = {}
        for group, rules in (("where", cfg.where), ("where_any", cfg.where_any)):
            for i, rule in enumerate(rules):
                ref = rule.in_dataset or rule.not_in_dataset
                if ref is not None:
                    self.sets[id(rule)] = _column_set(ref, f"sources.{index}.{group}.{i}", spec_file, cache)

    def _holds(self, rule: RowRule, rec: dict[str, Any], part: Part) -> bool:
        value = _value(rec, rule.column, part)
        if rule.one_of is not None:
            return value in rule.one_of
        if rule.none_of is not None:
            return value not in rule.none_of
        if rule.is_null is not None:
            return (value is None) == rule.is_null
        if rule.matches is not None:
            return value is not None and re.search(rule.matches, str(value)) is not None
        return (value in self.sets[id(rule)]) == (rule.in_dataset is not None)

    def keep(self, rec: dict[str, Any], part: Part) -> bool:
        if not all(self._holds(r, rec, part) for r in self.cfg.where):
            return False
        return not self.cfg.where_any or any(self._holds(r, rec, part) for r in self.cfg.where_any)


def _column_set(
    ref: DatasetColumn, where: str, spec_file: str, cache: dict[tuple[Any, ...], frozenset[Any]]
) -> frozenset[Any]:
    key = (ref.name, ref.hub_config, ref.split, ref.column)
    if key not in cache:
        records, columns = _load(
            ref.name,
            f"{where}.{'path' if ref.path else 'hub_id'}",
            spec_file,
            f"dataset {ref.name!r}",
            config=ref.hub_config,
            split=ref.split,
        )
        if ref.column not in columns:
            raise ConfigError(
                f"dataset {ref.name!r} has no column {ref.column!r}; its columns are: {', '.join(columns)}",
                file=spec_file,
                field=f"{where}.column",
                expected="an existing column",
            )
        cache[key] = frozenset(r.get(ref.column) for r in records if isinstance(r, dict))
    return cache[key]


def take(pairs: list[tuple[dict[str, Any], dict[str, Any], int]], t: Take) -> list[int]:
    """Indexes of the rows kept by ``t``: a seeded shuffle, then the first ``n`` (with ``balance``,
    each value of that column gets an equal share first, the rest filling up). In input order."""
    order = list(range(len(pairs)))
    random.Random(t.seed).shuffle(order)
    if t.balance is None:
        return sorted(order[: t.n])
    values = {str(pairs[i][1].get(t.balance)) for i in order}
    quota = dict.fromkeys(values, math.ceil(t.n / max(len(values), 1)))
    chosen: list[int] = []
    for i in order:
        value = str(pairs[i][1].get(t.balance))
        if quota[value] > 0 and len(chosen) < t.n:
            chosen.append(i)
            quota[value] -= 1
    picked = set(chosen)
    chosen += [i for i in order if i not in picked][: t.n - len(chosen)]
    return sorted(chosen)


def collect(
    sources: list[SourceConfig], spec_file: str, *, dedup: bool = True, settings: CollectConfig | None = None
) -> Collected:
    """Read every source into the common schema and remove duplicates (exact ones unless ``dedup``
    is false or ``settings.exact_dedup`` is; n-gram overlaps across sources with ``settings.ngram``)."""
    settings = settings or CollectConfig()
    exact = dedup and settings.exact_dedup
    out = Collected()
    seen_ids: set[str] = set()
    seen_text: dict[str, str] = {}
    index = NgramIndex(settings.ngram) if settings.ngram else None
    pending: list[dict[str, Any]] = []  # kept rows of the current group, indexed when it ends
    cache: dict[tuple[Any, ...], frozenset[Any]] = {}
    group: str | None = None
    for number_of_source, cfg in enumerate(sources):
        if index is not None and (cfg.group is None or cfg.group != group):
            for row in pending:
                index.add(Item(row["source"], row["id"]), row["question"])
            pending = []
        group = cfg.group
        pairs, columns = read_parts(cfg, number_of_source, spec_file)
        check_columns(cfg, number_of_source, columns, spec_file)
        rules = Rules(cfg, number_of_source, spec_file, cache)
        counts = {
            "read": len(pairs),
            "filtered": 0,
            "rejected": 0,
            "ngram_overlap": 0,
            "not_taken": 0,
            "exact_duplicates": 0,
            "kept": 0,
        }
        out.per_source[cfg.name] = counts
        candidates: list[tuple[dict[str, Any], dict[str, Any], int]] = []  # row, record, record number
        for number, (rec, part) in enumerate(pairs):
            reject = _reject_of(cfg, number, rec)
            if reject is None and not rules.keep(rec, part):
                counts["filtered"] += 1
                continue
            built: dict[str, Any] | None = None
            if reject is None:
                built, reject = _row(cfg, number, rec, part, len(cfg.parts()) > 1)
            if built is not None and index is not None and (m := index.match(built["question"])) is not None:
                reject = _rejected(
                    cfg,
                    number,
                    built["id"],
                    "ngram_overlap",
                    f"shares the {index.n}-gram {m.ngram!r} with {m.item.item_id}",
                    duplicate_of=m.item.item_id,
                )
                counts["ngram_overlap"] += 1
            if reject is not None:
                out.rejects.append(reject)
                counts["rejected"] += 1
            elif built is not None:
                candidates.append((built, rec, number))
        kept = take(candidates, cfg.take) if cfg.take is not None else range(len(candidates))
        counts["not_taken"] = len(candidates) - len(kept)
        for i in kept:
            row, _, number = candidates[i]
            if row["id"] in seen_ids:
                reject = _rejected(cfg, number, row["id"], "duplicate_id", "another row has this id")
            elif exact and (first := seen_text.get(normalize(row["question"]))) is not None:
                reject = _rejected(
                    cfg, number, row["id"], "exact_duplicate", f"same question as {first}", duplicate_of=first
                )
                counts["exact_duplicates"] += 1
            else:
                seen_text.setdefault(normalize(row["question"]), row["id"])
                seen_ids.add(row["id"])
                out.rows.append(row)
                pending.append(row)
                counts["kept"] += 1
                continue
            out.rejects.append(reject)
            counts["rejected"] += 1
    return out


def _reject_of(cfg: SourceConfig, number: int, rec: Any) -> dict[str, Any] | None:
    q_col, id_col = cfg.column("question"), cfg.column("id")
    if isinstance(rec, BadLine):
        return _rejected(cfg, number, None, "invalid_json", f"line {rec.line} is not valid JSON")
    if not isinstance(rec, dict):
        return _rejected(cfg, number, None, "not_an_object", "the record is not a JSON object")
    question = rec.get(q_col) if q_col else None
    if question is None or (isinstance(question, str) and not question.strip()):
        return _rejected(
            cfg,
            number,
            _id_of(cfg, number, rec, id_col),
            "missing_question",
            f"column {q_col!r} is missing or empty",
        )
    if not isinstance(question, str):
        return _rejected(
            cfg,
            number,
            _id_of(cfg, number, rec, id_col),
            "non_text_question",
            f"column {q_col!r} holds a {type(question).__name__}, not text",
        )
    return None


def _id_of(cfg: SourceConfig, number: int, rec: dict[str, Any], id_col: str | None) -> str:
    sid = rec.get(id_col) if id_col else None
    return f"{cfg.name}/{sid if sid is not None else number}"


def question_text(cfg: SourceConfig, text: str, rec: dict[str, Any], part: Part) -> str:
    """The question as the source's text settings make it (s1's per-loader question code)."""
    if cfg.question_after is not None and cfg.question_after in text:
        text = text.split(cfg.question_after, 1)[1]
    if cfg.question_before is not None:
        text = text.split(cfg.question_before, 1)[0]
    for old, new in cfg.question_replace.items():
        text = text.replace(old, new)
    if cfg.template is not None:
        text = _fill(cfg.template, rec, part, text)
    return text.strip()


def _cot_type(cot: str | ColumnMap, rec: dict[str, Any], part: Part) -> str | None:
    if isinstance(cot, str):
        return _fill(cot, rec, part) if "{" in cot else cot
    return cot.map.get(str(_value(rec, cot.column, part)), cot.default)


def _row(
    cfg: SourceConfig, number: int, rec: dict[str, Any], part: Part, many_parts: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the row, None), or (None, its reject)."""
    q_col, id_col = cfg.column("question"), cfg.column("id")
    sol_col, ans_col, dom_col = cfg.column("solution"), cfg.column("answer"), cfg.column("domain")
    row_id = _id_of(cfg, number, rec, id_col)
    question = question_text(cfg, str(rec[q_col]), rec, part) if q_col else ""
    if not question:
        return None, _rejected(cfg, number, row_id, "missing_question", "the question is empty once built")
    cot_type = _cot_type(cfg.cot_type, rec, part)
    if cot_type is None:
        assert isinstance(cfg.cot_type, ColumnMap)
        return None, _rejected(
            cfg,
            number,
            row_id,
            "unknown_cot_type",
            f"{cfg.cot_type.column} value "
            f"{_value(rec, cfg.cot_type.column, part)!r} is not in the cot_type map",
        )
    domain = rec.get(dom_col) if dom_col else None
    if cfg.metadata or many_parts:
        meta: dict[str, Any] = {c: rec.get(c) for c in cfg.metadata}
        meta["row"] = number
        if many_parts:
            meta.update(hub_config=part.hub_config, split=part.split)
        metadata = json.dumps(meta, ensure_ascii=False, default=str)
    else:  # the common case, without the cost of a JSON encoder call per row
        metadata = f'{{"row": {number}}}'
    return {
        "id": row_id,
        "question": question,
        "solution": _text(rec.get(sol_col)) if sol_col else None,
        "answer": _text(rec.get(ans_col)) if ans_col else None,
        "source": cfg.name,
        "source_type": _fill(cfg.source_type, rec, part) if cfg.source_type else cfg.name,
        "cot_type": cot_type,
        "domain": str(domain).strip() if domain not in (None, "") else None,
        "metadata": metadata,
    }, None


def _rejected(
    cfg: SourceConfig, number: int, row_id: str | None, reason: str, detail: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": row_id,
        "source": cfg.name,
        "row": number,
        "step": "collect",
        "reason": reason,
        "detail": detail,
        **extra,
    }
