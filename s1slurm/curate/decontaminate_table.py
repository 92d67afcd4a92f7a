"""``s1slurm decontaminate`` on a user's own table: the rows come back as they came.

Every column, the same ids, the same order: the clean file is the input minus the contaminated rows
(and, only when asked, minus near-duplicates). Each row left out goes to the rejects with its row
number, its id when the table has an id column, what matched, and the untouched record (except for
GPQA matches, whose text is never stored). The question column is found by name when it is one of
the usual ones, for the dataset and for benchmark files alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1slurm.core.dataload import load_table
from s1slurm.core.errors import ConfigError
from s1slurm.curate.decontaminate import REDACTED, Benchmark, Decontaminated, decontaminate
from s1slurm.curate.spec import DecontaminateConfig
from s1slurm.eval.benchmarks import PRESET_NAMES

# The names datasets give their question column (MATH/MATH500/AIME: problem; GPQA: Question).
QUESTION_COLUMNS = ("problem", "question", "Question")
ID_COLUMNS = ("id", "unique_id", "ID", "Record ID")


def question_column(columns: Sequence[str], given: str | None, *, file: str, field: str) -> str:
    """``given`` when the table has it, else the first usual question column it has."""
    if given is not None:
        if given not in columns:
            raise ConfigError(
                f"no column {given!r}; its columns are: {', '.join(columns) or '(none)'}",
                file=file,
                field=field,
                expected="an existing column",
            )
        return given
    for name in QUESTION_COLUMNS:
        if name in columns:
            return name
    raise ConfigError(
        f"no question column among {', '.join(columns) or '(none)'}",
        file=file,
        field=field,
        expected=f"one of {', '.join(QUESTION_COLUMNS)}, or name it explicitly",
    )


def id_column(columns: Sequence[str], given: str | None, *, file: str) -> str | None:
    """``given`` (which must exist), else a usual id column, else None (rows are named by number)."""
    if given is not None:
        if given not in columns:
            raise ConfigError(
                f"no column {given!r}; its columns are: {', '.join(columns)}",
                file=file,
                field="--id-field",
                expected="an existing column",
            )
        return given
    return next((c for c in ID_COLUMNS if c in columns), None)


def benchmark_entry(text: str, question_field: str | None = None) -> dict[str, Any]:
    """A ``--against`` value as an eval benchmark entry: ``aime24`` (the hub), ``math500=PATH`` (a
    preset read from a local file) or a data file whose question column is found as the dataset's."""
    name, sep, path = text.partition("=")
    if sep and name in PRESET_NAMES:
        return {"name": name, "path": path}
    if not sep and text in PRESET_NAMES:
        return {"name": text}
    if not Path(text).is_file():
        raise ConfigError(
            f"benchmark {text!r} not found",
            field="--against",
            expected=f"{', '.join(PRESET_NAMES)}, PRESET=PATH or a data file",
        )
    columns = load_table(text, field="--against", file=text, limit=1).columns
    question = question_column(columns, question_field, file=text, field="--against-question-field")
    # Decontamination reads only questions; the eval loader also wants an answer column, so a file
    # without one lends it its question (only --with-answer would read it).
    answer = "answer" if "answer" in columns else question
    return {
        "name": "jsonl",
        "path": text,
        "label": Path(text).stem,
        "fields": {"question": question, "answer": answer},
    }


@dataclass
class TableResult:
    """The input rows kept (unchanged), the rejects, and the report's data (ids as the table's)."""

    clean: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    dec: Decontaminated = field(default_factory=Decontaminated)
    unchecked: int = 0  # rows whose question is missing or not text: kept, nothing to match


def decontaminate_table(
    records: list[dict[str, Any]],
    cfg: DecontaminateConfig,
    benchmarks: list[Benchmark],
    *,
    question: str,
    answer: str | None = None,
    id_col: str | None = None,
) -> TableResult:
    """``records`` minus those that match ``benchmarks`` (and near-duplicates when ``cfg`` asks)."""
    rows, unchecked = [], 0
    for n, rec in enumerate(records):
        text = rec.get(question)
        if not isinstance(text, str) or not text.strip():
            unchecked += 1
            continue
        row: dict[str, Any] = {"id": str(n), "question": text}
        if answer is not None and rec.get(answer) is not None:
            row["answer"] = str(rec[answer])
        rows.append(row)
    dec = decontaminate(rows, cfg, benchmarks)

    def shown(n: str) -> Any:  # the id a user recognises: the table's own, else the row number
        return records[int(n)].get(id_col) if id_col is not None else int(n)

    left_out: set[int] = set()
    rejects = []
    for r in dec.rejects:
        n = int(r["id"])
        left_out.add(n)
        reject: dict[str, Any] = {"row": n, "id": shown(r["id"]), "reason": r["reason"]}
        for key in ("benchmark", "item_id", "ngram", "question_sha256", "similarity"):
            if key in r:
                reject[key] = r[key]
        if "duplicate_of" in r:
            reject["duplicate_of"] = {"row": int(r["duplicate_of"]), "id": shown(r["duplicate_of"])}
        if r.get("question") != REDACTED:  # a GPQA match: its record holds GPQA text
            reject["record"] = records[n]
        rejects.append(reject)
    dec.matches = [{**m, "id": shown(m["id"]), "row": int(m["id"])} for m in dec.matches]
    dec.clusters = {str(shown(k)): [str(shown(v)) for v in vs] for k, vs in dec.clusters.items()}
    clean = [rec for n, rec in enumerate(records) if n not in left_out]
    dec.rows = clean
    return TableResult(clean, rejects, dec, unchecked)
