"""One way to read a table of records, for curation sources, evaluation benchmarks and training data.

What a name means (one rule, also for models: :mod:`s1slurm.models.resolve`): a *local* name is an
existing path, or one written like a path (``/``, ``./``, ``../``, ``~``, more than one ``/``, or a
data-file ending); anything else is a Hugging Face hub id (``org/name``). A local name is a data file
(JSON Lines, JSON, Parquet, CSV), a folder written by ``Dataset.save_to_disk``, or a hub dataset's
snapshot folder (``snapshot_download``, as the stages download one at submission for offline nodes).
Every failure is a :class:`ConfigError` naming the file or the spec's field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1slurm.core.errors import ConfigError, MissingDependencyError, S1SlurmError
from s1slurm.core.jsonl import first_bad_line

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_PATH_PREFIXES = ("/", "./", "../", "~")


def looks_local(name: str) -> bool:
    """A name that means something on this machine rather than a hub id."""
    return (
        Path(name).expanduser().exists()
        or name.startswith(_PATH_PREFIXES)
        or name.count("/") > 1
        or Path(name).suffix.lower() in FORMATS
    )


def is_hub_id(name: str) -> bool:
    """A hub id (``org/name``): not a local name."""
    return not looks_local(name)


@dataclass(frozen=True)
class BadLine:
    """A JSON Lines line that did not parse, kept in place of its record by ``bad_lines="keep"``."""

    line: int


@dataclass(frozen=True)
class Table:
    """Records read from one place, with their column names and where they came from (for errors)."""

    records: list[Any]
    columns: list[str]
    where: str
    path: Path | None  # the local data file, None for a folder or a hub dataset


def load_table(
    name: str,
    *,
    field: str,
    file: str | None = None,
    config: str | None = None,
    split: str = "train",
    limit: int | None = None,
    bad_lines: str = "error",
    redact: bool = False,
    hint: str = "",
    local_field: str | None = None,
) -> Table:
    """All records (the first ``limit``) of a data file, a saved dataset folder or a hub dataset.

    ``field``/``file`` name the spec entry blamed for a failure. ``bad_lines="keep"`` reads a JSON
    Lines file line by line and keeps a :class:`BadLine` for each line that does not parse (curation
    rejects those rows instead of losing the file). ``redact``: an error never quotes the data (gated
    sets). ``hint`` is added to a hub dataset that cannot be found (e.g. how to accept its terms).
    ``local_field``: the spec field that takes a local copy instead (named when the hub is unreachable).
    """
    local = looks_local(name)
    path = Path(name).expanduser()
    if local and not path.is_dir():
        return _load_file(path, field=field, file=file, limit=limit, bad_lines=bad_lines, redact=redact)
    datasets = _datasets()
    try:
        if local and (path / "state.json").is_file():  # a folder written by Dataset.save_to_disk
            ds = datasets.load_from_disk(str(path))
        else:
            ds = datasets.load_dataset(str(path.resolve()) if local else name, config, split=split)
    except (ConnectionError, TimeoutError) as e:
        raise S1SlurmError(
            f"cannot reach {name!r}: {e} (set '{local_field or field}' to a local copy, or "
            f"HF_DATASETS_OFFLINE=1 to use the local cache)"
        ) from None
    except Exception as e:  # unknown id, gated, bad config or split: datasets raises many types
        raise ConfigError(
            f"cannot load {name!r} (config {config!r}, split {split!r}): "
            f"{_root_cause(e, redact)}.{(' ' + hint) if hint and not local else ''}",
            file=file,
            field=field,
        ) from None
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    where = f"{name} (split {split})" if not local else str(path)
    return Table(ds.to_list(), list(ds.column_names), where, None)


def _load_file(
    path: Path, *, field: str, file: str | None, limit: int | None, bad_lines: str, redact: bool
) -> Table:
    builder = FORMATS.get(path.suffix.lower())
    if builder is None:
        raise ConfigError(
            f"cannot read {path.name!r}",
            file=file,
            field=field,
            expected=f"a file ending in {', '.join(FORMATS)}, a dataset folder or a hub id",
        )
    if not path.is_file():
        raise ConfigError(
            f"file {str(path)!r} not found", file=file, field=field, expected="an existing local data file"
        )
    if path.suffix.lower() == ".jsonl":  # read directly: importing datasets alone costs 1-3 s
        records: list[Any] = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if limit is not None and len(records) >= limit:
                    break
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = BadLine(number)
                    if bad_lines != "keep" and not isinstance(record, dict):
                        what = "not valid JSON" if isinstance(record, BadLine) else "not a JSON object"
                        raise ConfigError(
                            f"cannot read data: line {number} is {what}",
                            file=str(path),
                            expected="one JSON object per line",
                        )
                    records.append(record)
        columns = list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
        return Table(records, columns, str(path), path)
    datasets = _datasets()
    try:
        ds = datasets.load_dataset(builder, data_files=str(path.resolve()), split="train")
    except Exception as e:  # datasets wraps parse errors in several exception types
        bad = first_bad_line(path) if builder == "json" else None  # a .json written one object a line
        raise ConfigError(
            f"cannot read data: {bad or _root_cause(e, redact)}",
            file=str(path),
            expected="one JSON object per line" if builder == "json" else f"a valid {builder} file",
        ) from None
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return Table(ds.to_list(), list(ds.column_names), str(path), path)


def _datasets() -> Any:
    try:
        import datasets  # inside: importing datasets costs ~1 s of every command's start-up
    except ImportError:
        raise MissingDependencyError("datasets", "curate") from None
    return datasets


def _root_cause(e: BaseException, redact: bool) -> str:
    """The innermost error's type and message (pyarrow's may quote a row: only its type when the
    data must stay hidden)."""
    inner: BaseException | None = e
    while inner is not None:
        e, inner = inner, inner.__cause__ or inner.__context__
    return type(e).__name__ if redact else f"{type(e).__name__}: {str(e)[:300]}"
