"""Step ``collect``: every source, through its field mapping, into one schema; exact duplicates out.

The schema of a collected row: ``id`` (``<source>/<source id or row number>``), ``question``,
``solution``, ``answer``, ``source``, ``domain`` (the source's own label, or None) and
``metadata`` (a JSON object as text, as s1K's ``metadata`` column is text). s1 gathered its 59K
the same way, one loader per source with its own column names (data/collect_data.py,
``load_generic(name, split, question_field, solution_field, ...)``).

Rows that cannot be used (question missing or not text, a duplicate id) go to the rejects with their
reason; an exact duplicate (same question after lower-casing and collapsing white space, as s1's
``normalize_string`` in data/decontaminate_util.py) is rejected as ``exact_duplicate`` with the id of
the row kept. Sources are read in the order of the spec, so the first source wins a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from s1slurm.core.dataload import BadLine, load_table
from s1slurm.core.errors import ConfigError
from s1slurm.curate.ngrams import normalize
from s1slurm.curate.spec import SourceConfig

@dataclass
class Collected:
    """The rows kept, the rows rejected (with ``reason``) and counts per source."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)


def read_source(cfg: SourceConfig, index: int, spec_file: str) -> tuple[list[Any], list[str]]:
    """(records, column names) of a source. A missing file or an unreadable one is a ConfigError
    naming the spec and the field; local JSON Lines are read line by line so that one bad line
    becomes a reject (``invalid_json``, recorded as a :class:`BadLine`) rather than a lost file."""
    where = f"sources.{index}"
    name, field = (str(cfg.path), f"{where}.path") if cfg.path is not None else (cfg.hub_id, f"{where}.hub_id")
    assert name is not None  # the spec requires one of path and hub_id
    try:
        table = load_table(name, field=field, file=spec_file, config=cfg.hub_config, split=cfg.split,
                           limit=cfg.limit, bad_lines="keep", local_field=f"{where}.path")
    except ConfigError as e:
        if e.file != spec_file:  # the data file itself is at fault
            raise
        raise ConfigError(f"source {cfg.name!r}: {e.detail}", file=spec_file, field=e.field,
                          expected=e.expected) from None
    return table.records, table.columns


def check_columns(cfg: SourceConfig, index: int, columns: list[str], spec_file: str) -> None:
    """A mapping to a column the source does not have is a ConfigError listing its columns."""
    wanted = {k: cfg.column(k) for k in ("id", "question", "solution", "answer", "domain")}
    wanted.update({f"metadata[{i}]": c for i, c in enumerate(cfg.metadata)})
    for key, column in wanted.items():
        if column is not None and column not in columns:
            field = f"sources.{index}.fields.{key}" if not key.startswith("metadata") \
                else f"sources.{index}.{key}"
            raise ConfigError(f"source {cfg.name!r} has no column {column!r}; its columns are: "
                              f"{', '.join(columns) or '(none)'}", file=spec_file, field=field,
                              expected="an existing column")


def _text(value: Any) -> str | None:
    """Solutions and answers as text: lists joined (OlympiadBench keeps them as lists)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None]
        return "\n".join(parts) if parts else None
    return str(value)


def collect(sources: list[SourceConfig], spec_file: str, *, dedup: bool = True) -> Collected:
    """Read every source into the common schema and (``dedup``) remove exact duplicates."""
    out = Collected()
    seen_ids: set[str] = set()
    seen_text: dict[str, str] = {}
    for index, cfg in enumerate(sources):
        records, columns = read_source(cfg, index, spec_file)
        check_columns(cfg, index, columns, spec_file)
        counts = {"read": len(records), "kept": 0, "rejected": 0, "exact_duplicates": 0}
        out.per_source[cfg.name] = counts
        q_col, id_col = cfg.column("question"), cfg.column("id")
        for number, rec in enumerate(records):
            reject = _reject_of(cfg, number, rec, q_col, id_col)
            if reject is None:
                row = _row(cfg, number, rec, q_col, id_col)
                if row["id"] in seen_ids:
                    reject = _rejected(cfg, number, row["id"], "duplicate_id", "another row has this id")
                else:
                    key = normalize(row["question"])
                    kept = seen_text.get(key) if dedup else None
                    if kept is not None:
                        reject = _rejected(cfg, number, row["id"], "exact_duplicate", f"same question as {kept}",
                                           duplicate_of=kept)
                        counts["exact_duplicates"] += 1
                    else:
                        seen_text[key] = row["id"]
                        seen_ids.add(row["id"])
                        out.rows.append(row)
                        counts["kept"] += 1
                        continue
            out.rejects.append(reject)
            counts["rejected"] += 1
    return out


def _reject_of(cfg: SourceConfig, number: int, rec: Any, q_col: str | None, id_col: str | None
               ) -> dict[str, Any] | None:
    if isinstance(rec, BadLine):
        return _rejected(cfg, number, None, "invalid_json", f"line {rec.line} is not valid JSON")
    if not isinstance(rec, dict):
        return _rejected(cfg, number, None, "not_an_object", "the record is not a JSON object")
    question = rec.get(q_col) if q_col else None
    if question is None or (isinstance(question, str) and not question.strip()):
        return _rejected(cfg, number, _id_of(cfg, number, rec, id_col), "missing_question",
                         f"column {q_col!r} is missing or empty")
    if not isinstance(question, str):
        return _rejected(cfg, number, _id_of(cfg, number, rec, id_col), "non_text_question",
                         f"column {q_col!r} holds a {type(question).__name__}, not text")
    return None


def _id_of(cfg: SourceConfig, number: int, rec: dict[str, Any], id_col: str | None) -> str:
    sid = rec.get(id_col) if id_col else None
    return f"{cfg.name}/{sid if sid is not None else number}"


def _row(cfg: SourceConfig, number: int, rec: dict[str, Any], q_col: str | None, id_col: str | None
         ) -> dict[str, Any]:
    sol_col, ans_col, dom_col = cfg.column("solution"), cfg.column("answer"), cfg.column("domain")
    domain = rec.get(dom_col) if dom_col else None
    if cfg.metadata:
        meta = {c: rec.get(c) for c in cfg.metadata}
        meta["row"] = number
        metadata = json.dumps(meta, ensure_ascii=False, default=str)
    else:  # the common case, without the cost of a JSON encoder call per row
        metadata = f'{{"row": {number}}}'
    return {"id": _id_of(cfg, number, rec, id_col), "question": rec[q_col].strip(),  # type: ignore[index]
            "solution": _text(rec.get(sol_col)) if sol_col else None,
            "answer": _text(rec.get(ans_col)) if ans_col else None, "source": cfg.name,
            "cot_type": cfg.cot_type,
            "domain": str(domain).strip() if domain not in (None, "") else None,
            "metadata": metadata}


def _rejected(cfg: SourceConfig, number: int, row_id: str | None, reason: str, detail: str,
              **extra: Any) -> dict[str, Any]:
    return {"id": row_id, "source": cfg.name, "row": number, "step": "collect", "reason": reason,
            "detail": detail, **extra}
