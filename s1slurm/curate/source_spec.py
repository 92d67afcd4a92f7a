"""The ``sources:`` of a curation spec: where each source's rows come from, which rows are kept, how
their columns become a question, and how many of them are taken.

Each s1 loader (simplescaling/s1 ``data/collect_data.py``, ``load_*``) is one entry: its hub id,
configs and splits read together (``hub_config``/``split`` as lists), its row filters (``where``,
``where_any``), its field map and question text (``fields``, ``template``, ``question_before`` ...),
its ``cot_type`` and ``source_type`` (fixed or from a column) and its per-source selection
(``take``). ``group`` joins entries that s1 read as one source (AGIEval's three loaders).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from s1slurm.config.cluster import Strict

_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")
FIELD_KEYS = ("id", "question", "solution", "answer", "domain")
# Values a template, a cot_type map or a source_type may use besides the source's columns.
PSEUDO_COLUMNS = ("hub_config", "split")


def template_names(template: str) -> list[str]:
    """The ``{name}`` placeholders of a template (``{{`` and ``}}`` are literal braces)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


class DatasetColumn(Strict):
    """One column of another dataset, as a set of values (e.g. s1's numinamath_500 questions)."""

    path: Path | None = Field(None, description="local data file")
    hub_id: str | None = Field(None, description="hub dataset id (or a local dataset folder)")
    hub_config: str | None = None
    split: str = "train"
    column: str = Field(..., min_length=1)

    @model_validator(mode="after")
    def _one_place(self) -> DatasetColumn:
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("give exactly one of 'path' (a local file) or 'hub_id'")
        return self

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else str(self.hub_id)


class RowRule(Strict):
    """A condition on a column of the source's rows: exactly one of the tests below."""

    column: str = Field(..., min_length=1)
    one_of: list[Any] | None = Field(None, description="the value is one of these")
    none_of: list[Any] | None = Field(None, description="the value is none of these")
    is_null: bool | None = Field(None, description="true: the value is missing/null; false: it is not")
    matches: str | None = Field(None, description="a regular expression found in the value (as text)")
    in_dataset: DatasetColumn | None = Field(None, description="the value occurs in another dataset's column")
    not_in_dataset: DatasetColumn | None = Field(None, description="the value does not occur there")

    @model_validator(mode="after")
    def _one_test(self) -> RowRule:
        tests = [
            k
            for k in ("one_of", "none_of", "is_null", "matches", "in_dataset", "not_in_dataset")
            if getattr(self, k) is not None
        ]
        if len(tests) != 1:
            raise ValueError(
                "give exactly one of one_of, none_of, is_null, matches, in_dataset, not_in_dataset"
                f" (got {', '.join(tests) or 'none'})"
            )
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as e:
                raise ValueError(f"'matches' is not a regular expression: {e}") from None
        return self


class ColumnMap(Strict):
    """A value looked up from a column (s1's ``subject_to_o1domain`` maps)."""

    column: str = Field(..., min_length=1, description="a column, or hub_config / split")
    map: dict[str, str] = Field(..., min_length=1)
    default: str | None = Field(None, description="for values not in the map (none: the row is rejected)")


class Take(Strict):
    """Per-source selection after filtering (s1: ``DS_TO_SELECTION``'s sample counts)."""

    n: int = Field(..., ge=1, description="rows to take")
    seed: int = Field(42, ge=0, description="shuffle seed (s1: random.seed(42), ds.shuffle(seed=42))")
    balance: str | None = Field(
        None,
        description="a column whose values share ``n`` equally (s1's "
        "select_examples_scieval balances SciEval's task_name)",
    )


class SourceConfig(Strict):
    """One candidate source: a local data file, or a hub dataset (configs and splits read together)."""

    name: str = Field(..., description="source name (pre-selection rules and reports name it)")
    path: Path | None = Field(None, description="local .jsonl, .json, .parquet or .csv file")
    hub_id: str | None = Field(None, description="hub dataset id (or a local dataset folder)")
    hub_config: str | list[str] | None = Field(None, description="config, or several read one after another")
    split: str | list[str] = Field("train", description="split, or several read one after another")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="our key -> column: id, question (required), solution, answer, domain",
    )
    metadata: list[str] = Field(default_factory=list, description="other columns kept in 'metadata'")
    where: list[RowRule] = Field(default_factory=list, description="keep rows for which every rule holds")
    where_any: list[RowRule] = Field(default_factory=list, description="... and at least one of these holds")
    question_before: str | None = Field(
        None, description="cut the question at this text (s1 SciEval: '\\n\\nAnswer:')"
    )
    question_after: str | None = Field(
        None, description="keep only the text after this marker (s1 XWord: '### Clue: ')"
    )
    question_replace: dict[str, str] = Field(default_factory=dict, description="text replacements, in order")
    template: str | None = Field(
        None,
        description="the question built from columns: {question} is the mapped "
        "question, {col} any column (lists joined by new lines, null as empty)",
    )
    cot_type: str | ColumnMap = Field(
        "math",
        description="the s1K 'cot_type' (math, science, coding, ...): "
        "a template over the columns, or a map of one column's values",
    )
    source_type: str | None = Field(
        None, description="the s1K 'source_type', a template over the columns (default: the source name)"
    )
    take: Take | None = Field(None, description="take only this many rows (after filters and dedup)")
    group: str | None = Field(
        None, description="entries of one s1 source: not n-gram deduplicated against each other"
    )
    limit: int | None = Field(None, ge=1, description="read only the first N rows (of each config and split)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-100 characters of A-Z a-z 0-9 _ . + -")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(v) - set(FIELD_KEYS))
        if bad:
            raise ValueError(f"unknown keys {bad} (allowed: {', '.join(FIELD_KEYS)})")
        return v

    @field_validator("template", "source_type", "cot_type")
    @classmethod
    def _template(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                template_names(v)
            except ValueError as e:
                raise ValueError(f"not a template: {e} (write literal braces as {{{{ and }}}})") from None
        return v

    @model_validator(mode="after")
    def _one_place(self) -> SourceConfig:
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("give exactly one of 'path' (a local file) or 'hub_id'")
        if self.path is not None and (isinstance(self.hub_config, list) or isinstance(self.split, list)):
            raise ValueError("several configs or splits are for a hub dataset ('hub_id')")
        return self

    def column(self, key: str) -> str | None:
        """The column mapped to ``key``; ``question`` defaults to the column ``question``."""
        if key in self.fields:
            return self.fields[key]
        return "question" if key == "question" else None

    def parts(self) -> list[tuple[str | None, str]]:
        """The (config, split) pairs read, in order."""
        configs = self.hub_config if isinstance(self.hub_config, list) else [self.hub_config]
        splits = self.split if isinstance(self.split, list) else [self.split]
        return [(c, s) for c in configs for s in splits]

    def columns_used(self) -> dict[str, str]:
        """Every column the entry reads, by the spec field that names it (for the column check)."""
        used = {f"fields.{k}": c for k in FIELD_KEYS if (c := self.column(k)) is not None}
        used.update({f"metadata.{i}": c for i, c in enumerate(self.metadata)})
        used.update({f"where.{i}.column": r.column for i, r in enumerate(self.where)})
        used.update({f"where_any.{i}.column": r.column for i, r in enumerate(self.where_any)})
        if self.template is not None:
            used.update({f"template.{n}": n for n in template_names(self.template) if n != "question"})
        if self.source_type is not None:
            used.update({f"source_type.{n}": n for n in template_names(self.source_type)})
        if isinstance(self.cot_type, ColumnMap):
            used["cot_type.column"] = self.cot_type.column
        else:
            used.update({f"cot_type.{n}": n for n in template_names(self.cot_type)})
        if self.take is not None and self.take.balance is not None:
            used["take.balance"] = self.take.balance
        return {k: c for k, c in used.items() if c not in PSEUDO_COLUMNS}


class CollectConfig(Strict):
    """How the ``collect`` step removes duplicates across sources."""

    exact_dedup: bool = Field(
        True,
        description="drop a question equal to an earlier one (lower-cased, white "
        "space collapsed; s1 dropped exact duplicates at the end of collect_data.py)",
    )
    ngram: int | None = Field(
        None,
        ge=1,
        le=50,
        description="drop a question sharing a word n-gram with a "
        "question kept from an earlier source (s1: 8, collect_data.py decontaminates "
        "each source against the test sets and every source collected before it)",
    )
